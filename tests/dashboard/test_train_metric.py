"""The dashboard's Training page draws the task-metric curve a training run recorded while early
stopping on it (issue 16 part 1), and draws nothing extra for runs without one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.store import Store

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def _record(rid: str, curve: list[list[float]] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": rid,
        "config": {"lora_r": 8, "learning_rate": 0.0002},
        "train_loss_curve": [[1, 3.0], [5, 1.0]],
        "eval_loss_curve": [],
        "first_loss": 3.0,
        "final_loss": 1.0,
        "steps": 6,
        "adapter_path": f"/tmp/{rid}/adapter",
        "adapter_hash": "0" * 64,
        "notes": [],
    }
    if curve is not None:
        body["eval_metric"] = "category"
        body["eval_metric_curve"] = curve
    return body


@pytest.mark.parametrize("curve", [[[2, 0.5], [4, 0.9], [6, 0.9]], None])
def test_training_page_metric_curve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, curve: Any) -> None:
    from streamlit.testing.v1 import AppTest

    url = f"sqlite:///{tmp_path / 'tb.db'}"
    Store(url).put_record("training", "train-1", _record("train-1", curve), ref="h")
    monkeypatch.setenv("TUNEBENCH_STORE", url)
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/training.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [e.value for e in at.caption]
    has = any("task metric on the dev slice" in v and "category" in v for v in captions)
    assert has == (curve is not None)
    assert len(at.get("vega_lite_chart")) == (2 if curve is not None else 1)
