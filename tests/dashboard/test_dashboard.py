"""Dashboard pages under `streamlit.testing.v1.AppTest`, on a store filled here: mock runs of a small
suite (one completion holds `<script>` and `**bold**`), a stored comparison, two training records of a
sweep, a failed gate verdict, a judgment and a nightly record. Every page renders without exceptions,
shows its key numbers, shows model text only as text, and leaves the store as it found it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.compare import compare_runs
from harness.models import parse_spec
from harness.runner import run_suite
from harness.store import Store
from harness.suite import load_suite
from harness.types import PromptConfig

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
PAGES = ["runs", "run_detail", "compare", "training", "gate", "judge", "trends"]
N = 12
LABELS = ["billing", "shipping", "account", "refund", "technical"]
XSS = "<script>alert(1)</script> and **bold** and <b>tag</b>"
XSS_SAMPLE = "test-003"


def _script(path: Path, correct: Any, special: dict[int, str] | None = None) -> str:
    rules = []
    for i in range(N):
        label = LABELS[i % len(LABELS)] if correct(i) else "other"
        reply = (special or {}).get(i, json.dumps({"category": label}))
        rules.append({"contains": f"ticket test {i}:", "reply": reply})
    path.write_text(yaml.safe_dump({"default": "?", "rules": rules}))
    return f"mock:{path}"


def fill_store(root: Path, make_suite: Any) -> dict[str, Any]:
    """A store under root/ws with runs A (baseline), B (better), C (worse) of one suite, plus a second
    A run a day later, a stored A..B comparison, training, verdict, judgment and nightly records."""
    suite_dir = make_suite(root / "tiny-suite", n=N)
    suite = load_suite(suite_dir)
    store = Store(f"sqlite:///{root / 'ws' / 'tunebench.db'}")
    spec_a = parse_spec(_script(root / "a.yaml", lambda i: i < 6, {3: XSS}))
    spec_b = parse_spec(_script(root / "b.yaml", lambda i: i not in (0, 3)))
    spec_c = parse_spec(_script(root / "c.yaml", lambda i: i < 3))
    ids: dict[str, Any] = {"suite_dir": suite_dir, "url": store.url}
    plan = [
        ("a", spec_a, None, 1),
        ("b", spec_b, PromptConfig(name="bare"), 2),
        ("c", spec_c, None, 3),
        ("a2", spec_a, None, 4),
    ]
    for name, spec, prompt, day in plan:
        rec = run_suite(suite, spec, store=store, prompt=prompt, progress=False)
        store.update_run(rec.model_copy(update={"created_at": f"2026-03-0{day}T10:00:00+00:00"}))
        ids[name] = rec.id
    cmp = compare_runs(store, ids["a"], ids["b"], n_boot=200, suite=suite_dir)
    ids["comparison"] = cmp
    for k, (lr, rid, final) in enumerate(((2e-4, ids["b"], 0.21), (1e-3, ids["c"], 0.55))):
        store.put_record(
            "training",
            f"train-{k}",
            {
                "id": f"train-{k}",
                "config": {"learning_rate": lr, "lora_r": 16, "num_train_epochs": 1.0, "base_model": "tiny"},
                "train_loss_curve": [[s, 3.0 / s + final] for s in range(1, 11)],
                "eval_loss_curve": [[0.5, 1.4], [1.0, 0.9 + final]],
                "first_loss": 3.0 + final,
                "final_loss": final,
                "steps": 10,
                "wall_time_s": 12.5 + k,
                "tokens_per_s": 190.0 - 40 * k,
                "trainable_params": 3_800_000,
                "adapter_path": f"/tmp/adapters/a{k}",
                "adapter_hash": f"{k}" * 64,
                "base_model": "tiny",
                "base_precision": "float32",
                "quantization": "none",
                "device": "cpu",
                "eval_runs": {"tiny-suite": rid},
            },
        )
    store.put_record(
        "verdict",
        "verdict-1",
        {
            "id": "verdict-1",
            "created_at": "2026-03-03T11:00:00+00:00",
            "policy": {"name": "support-bot"},
            "candidate": spec_c.label,
            "baseline": spec_a.label,
            "runs": {"tiny-suite": {"baseline": ids["a"], "candidate": ids["c"]}},
            "rules": [
                {
                    "rule": "min_samples(min=10)",
                    "suite": "tiny-suite",
                    "metric": "exact",
                    "kind": "min_samples",
                    "passed": True,
                    "reason": "n=12 >= 10",
                    "n": 12,
                },
                {
                    "rule": "non_inferior(margin=0.02)",
                    "suite": "tiny-suite",
                    "metric": "exact",
                    "kind": "non_inferior",
                    "passed": False,
                    "reason": "CI low -0.583 < -0.02 (regressed beyond margin)",
                    "value": 0.25,
                    "baseline_value": 0.5,
                    "delta": -0.25,
                    "ci_low": -0.583,
                    "ci_high": -0.083,
                    "n": 12,
                },
            ],
            "passed": False,
            "exit_code": 1,
        },
    )
    store.put_record(
        "judgment",
        "judgment-1",
        {
            "id": "judgment-1",
            "run_a": ids["a"],
            "run_b": ids["b"],
            "model_a": spec_a.label,
            "model_b": spec_b.label,
            "suite": "tiny-suite",
            "judge": "openai:judge@http://127.0.0.1:9",
            "n_pairs": 12,
            "n_judged": 12,
            "counts": {"b": 7, "a": 2, "tie": 3},
            "win_rate_b": 0.708,
            "win_ci_low": 0.5,
            "win_ci_high": 0.875,
            "reliability": {
                "position_consistency": 0.85,
                "repeat_agreement": 0.9,
                "length_correlation": 0.12,
                "family_warning": "judge and B share the family mock",
                "kappa": None,
            },
            "pairs": [
                {
                    "sample_id": XSS_SAMPLE,
                    "outcome": "b",
                    "verdict_ab": "b",
                    "verdict_ba": "b",
                    "consistent": True,
                    "reasoning_ab": XSS,
                    "reasoning_ba": "B is right",
                }
            ],
        },
    )
    store.put_record(
        "nightly", "nightly-1", {"date": "2026-03-02", "passed": False, "runs": {"tiny-suite": ids["c"]}}
    )
    return ids


_FILLED: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _navigation_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve app.py's st.navigation, as `tunebench dashboard` does (see harness/cli/streamlit_launch.py):
    without this, Streamlit's legacy mode would run each file of dashboard/pages/ as a page of its own."""
    from streamlit.runtime.pages_manager import PagesManager

    init = PagesManager.__init__

    def patched(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", patched)


@pytest.fixture
def filled(tmp_path_factory: pytest.TempPathFactory, make_suite: Any) -> dict[str, Any]:
    """Built once per test session (the tests only read it)."""
    if not _FILLED:
        _FILLED.update(fill_store(tmp_path_factory.mktemp("dash"), make_suite))
    return _FILLED


def app(url: str, monkeypatch: pytest.MonkeyPatch, page: str = "runs", **params: str) -> Any:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TUNEBENCH_STORE", url)
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    if page != "runs":
        at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def markdown_bodies(at: Any) -> list[str]:
    """Every element whose body Streamlit renders as markdown."""
    out = []
    for kind in (
        "markdown",
        "caption",
        "title",
        "header",
        "subheader",
        "info",
        "warning",
        "error",
        "success",
    ):
        out += [str(e.value) for e in getattr(at, kind)]
    return out


def texts(at: Any) -> str:
    parts = [str(e.value) for e in at.text] + [str(e.value) for e in at.code] + markdown_bodies(at)
    parts += [e.label + " " + str(e.value) for e in at.metric]
    return "\n".join(parts)


def frames(at: Any) -> list[Any]:
    return [e.value.data if hasattr(e.value, "data") else e.value for e in at.dataframe]


def frame_with(at: Any, column: str) -> Any:
    """The first dataframe shown with this column."""
    return next(f for f in frames(at) if column in f.columns)


# --------------------------------------------------------------------------- every page


def test_runs_page(filled: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(filled["url"], monkeypatch)
    df = frames(at)[0]
    assert set(df["id"]) == {filled[k] for k in ("a", "b", "c", "a2")}
    assert "4 of 4 runs" in texts(at)
    assert filled["url"] in [e.value for e in at.sidebar.text]  # app.py's navigation ran
    at.multiselect(key="runs_model").select(df[df["id"] == filled["b"]]["model"].iloc[0]).run()
    assert list(frames(at)[0]["id"]) == [filled["b"]]
    at.multiselect(key="runs_model").set_value([]).run()
    at.date_input(key="runs_dates").set_value((date(2026, 3, 1), date(2026, 3, 2))).run()
    assert set(frames(at)[0]["id"]) == {filled["a"], filled["b"]}
    at.multiselect(key="runs_status").set_value(["failed"]).run()
    assert frames(at)[0].empty and not at.exception


def test_run_detail_metrics_samples_and_literal_model_text(
    filled: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(filled["url"], monkeypatch, "run_detail", run=filled["a"])
    assert at.selectbox(key="detail_run").value == filled["a"]
    metrics = frame_with(at, "ci_high")
    exact = metrics[metrics["metric"] == "exact"].iloc[0]
    assert exact["value"] == pytest.approx(5 / 12)  # 0-5 right, but sample 3 answered with the XSS text
    assert exact["ci_low"] <= exact["value"] <= exact["ci_high"]
    assert len(at.get("vega_lite_chart")) >= 1  # the CI plot
    assert "prompt tokens / request" in texts(at)
    assert "latency p50" in texts(at)  # mock requests are timed one by one (hf batches: "batch time")
    samples = frame_with(at, "completion")
    assert len(samples) == N and {"exact", "json_valid"} <= set(samples.columns)
    # the sample with <script> and **bold** shows literally, in a code block, never as markdown
    at.selectbox(key="detail_sample").set_value(XSS_SAMPLE).run()
    assert not at.exception
    assert any(XSS in str(e.value) for e in at.code)
    for body in markdown_bodies(at):
        assert "<script>" not in body and "**bold**" not in body and "alert(1)" not in body
    assert not at.get("html")
    # search and "failed on" filters
    at.text_input(key="detail_search").input("alert(1)").run()
    assert list(frame_with(at, "completion")["sample_id"]) == [XSS_SAMPLE]
    at.text_input(key="detail_search").input("").run()
    at.selectbox(key="detail_metric").set_value("exact").run()
    failed = frame_with(at, "completion")
    assert len(failed) == 7 and (failed["exact"] == 0).all()
    assert "7 matching sample(s)" in texts(at)


def test_compare_two_runs_forest_plot_and_side_by_side(
    filled: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = filled["a"], filled["b"]
    at = app(filled["url"], monkeypatch, "compare", runs=f"{a},{b}")
    assert at.multiselect(key="cmp_runs").value == [a, b]
    assert len(at.get("vega_lite_chart")) == 1  # the forest plot
    deltas = frame_with(at, "W/T/L")
    row = deltas[deltas["metric"] == "exact"].iloc[0]
    m = filled["comparison"].metric("exact")
    assert row["delta"] == pytest.approx(m.delta) and row["ci_low"] == pytest.approx(m.ci_low)
    assert row["better"] == "higher" and row["MDE"] == pytest.approx(m.mde)
    assert "stored comparison" in texts(at)
    side = frame_with(at, "output_A")  # changed samples only, largest regression first
    assert list(side["sample_id"]) == ["test-000", *[f"test-{i:03d}" for i in range(6, N)]]
    assert list(side["delta"]) == [-1.0] + [1.0] * (N - 6)
    at.toggle(key="cmp_changed").set_value(False).run()
    assert len(frame_with(at, "output_A")) == N
    at.selectbox(key=f"cmp_sample_{b}").set_value(XSS_SAMPLE).run()
    assert any(XSS in str(e.value) for e in at.code)
    for body in markdown_bodies(at):
        assert "<script>" not in body and "**bold**" not in body


def test_forest_plot_colours_by_the_stored_direction() -> None:
    import pandas as pd

    from dashboard.components import forest_plot

    up = {"delta": 0.2, "ci_low": 0.1, "ci_high": 0.3}
    df = pd.DataFrame(
        [
            {"metric": "ppl", **up, "higher_is_better": False},  # perplexity went up: worse
            {"metric": "acc", **up, "higher_is_better": True},
            {"metric": "custom", **up, "higher_is_better": None},  # nothing declares it
        ]
    )
    spec = forest_plot(df).to_dict()
    rows = next(rows for rows in spec["datasets"].values() if rows and "result" in rows[0])
    results = {r["metric"]: r["result"] for r in rows}
    assert results == {"ppl": "B worse", "acc": "B better", "custom": "differs (direction not declared)"}


def test_compare_three_runs_each_against_the_first(
    filled: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = filled["a"], filled["b"], filled["c"]
    store = Store(filled["url"])
    before = store.counts()
    at = app(filled["url"], monkeypatch, "compare", runs=f"{a},{b},{c}")
    deltas = frame_with(at, "W/T/L")
    assert set(deltas["candidate"]) == {b, c}
    worse = deltas[(deltas["candidate"] == c) & (deltas["metric"] == "exact")].iloc[0]
    assert worse["delta"] == pytest.approx(3 / 12 - 5 / 12)
    assert "computed now" in texts(at)  # A..C was never stored: computed, and not written
    assert store.counts() == before


def test_training_page(filled: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(filled["url"], monkeypatch, "training")
    runs, sweep = frame_with(at, "adapter_path"), frame_with(at, "training run")
    assert set(runs["id"]) == {"train-0", "train-1"}
    assert len(at.get("vega_lite_chart")) == 2  # training and validation loss curves
    assert "learning_rate" in sweep.columns and "lora_r" not in sweep.columns  # only what varies
    row = sweep[sweep["training run"] == "train-0"].iloc[0]
    assert row["tiny-suite:exact"] == pytest.approx(10 / 12) and row["learning_rate"] == pytest.approx(2e-4)
    at.selectbox(key="train_pick").set_value("train-0").run()
    assert "tokens / s 190.0" in texts(at) and "final loss 0.2100" in texts(at)


def test_gate_page(filled: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(filled["url"], monkeypatch, "gate")
    assert [e.value for e in at.error] == ["FAIL: 1 of 2 rule(s) failed"]
    rules = frame_with(at, "reason")
    assert list(rules["result"]) == ["PASS", "FAIL"]
    assert "CI low -0.583 < -0.02 (regressed beyond margin)" in texts(at)


def test_judge_page(filled: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(filled["url"], monkeypatch, "judge")
    t = texts(at)
    assert "B win rate 70.8%" in t and "position consistency 0.850" in t and "repeat agreement 0.900" in t
    assert "human agreement (kappa) -" in t  # missing numbers show as "-"
    assert "judge and B share the family mock" in t
    assert any(XSS in str(e.value) for e in at.code)  # judge reasoning, literally
    for body in markdown_bodies(at):
        assert "<script>" not in body


def test_trends_page_marks_failed_verdicts(filled: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(filled["url"], monkeypatch, "trends")
    at.selectbox(key="trend_metric").set_value("exact").run()
    assert len(at.get("vega_lite_chart")) == 1
    df = frame_with(at, "failed")
    assert len(df) == 4
    assert set(df[df["failed"] != ""]["run_id"]) == {filled["c"]}
    assert "red diamonds: 1 run(s)" in texts(at)


# --------------------------------------------------------------------------- empty states, CLI


@pytest.mark.parametrize("fresh", [False, True], ids=["no-store-file", "empty-store"])
def test_every_page_has_an_empty_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: bool) -> None:
    db = tmp_path / "ws" / "tunebench.db"
    if fresh:
        Store(f"sqlite:///{db}")
    for page in PAGES:
        at = app(f"sqlite:///{db}", monkeypatch, page)
        infos = " ".join(str(e.value) for e in at.info)
        assert ("No tunebench store here yet" in infos) != fresh, (page, infos)
        assert infos, page
    assert db.exists() == fresh  # the dashboard never creates a store


def test_cli_command_line(tmp_path: Path) -> None:
    from harness.cli.dashboard import command
    from harness.cli.main import build_parser

    args = build_parser().parse_args(["--workspace", str(tmp_path), "dashboard", "--port", "8611"])
    assert (args.port, args.host) == (8611, "127.0.0.1")
    cmd = command("sqlite:///x.db", 8611, "127.0.0.1", ["--", "--theme.base", "dark"])
    assert cmd[cmd.index("--server.port") + 1] == "8611"
    assert cmd[-3:] == ["--", "--store", "sqlite:///x.db"] and "--theme.base" in cmd
    assert cmd[4].endswith("dashboard/app.py")
