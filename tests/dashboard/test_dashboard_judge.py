"""The dashboard's Judge page on a real judgment (a panel of two judges answering through a local
endpoint with log-probabilities, a few scripted replies): each pair's verdict probabilities and the
judges' raw replies read from the stored calls, the panel's agreement, each judge's identity, and
the notice when no win rate is claimed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openai_fault_server import Fault, FaultServer, with_logprobs
from test_dashboard import _navigation_mode, app, frame_with, texts  # noqa: F401 (fixture)

from harness.models import parse_spec
from harness.pairwise import judge_pairwise
from harness.runner import run_suite
from harness.store import Store
from harness.suite import load_suite

SUITE = """\
name: judge-page
version: "1.0.0"
dataset:
  path: data/{split}.jsonl
  splits: [train, dev, test]
prompt:
  name: plain
  template: "{input}"
generation:
  max_new_tokens: 16
scorers:
  - {name: exact, type: exact_match}
"""


@pytest.fixture
def judged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_suite: Any) -> dict[str, Any]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TUNEBENCH_HOME", str(tmp_path / "ws"))
    suite = load_suite(make_suite(tmp_path / "suite", {"train": 2, "dev": 2, "test": 3}, SUITE))
    store = Store()
    runs = []
    for name, reply in (("a", "alpha"), ("b", "beta beta")):
        script = tmp_path / f"{name}.yaml"
        script.write_text(f"default: {reply}\n")
        runs.append(run_suite(suite, parse_spec(f"mock:{script}"), store=store, progress=False).id)

    def respond(body: Any) -> Fault:  # always the first answer shown: position bias, no win rate
        return with_logprobs({"1": 0.62, "2": 0.25, "tie": 0.03, "<script>x</script>": 0.1})

    with FaultServer(responder=respond) as srv:
        specs = [f"openai:{m}@{srv.base_url}" for m in ("judge-one", "judge-two")]
        r = judge_pairwise(store, runs[0], runs[1], specs, n=3, n_boot=50, repeat_fraction=0)
    return {"url": store.url, "result": r}


def test_judge_page_shows_probabilities_raw_replies_and_panel(
    judged: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(judged["url"], monkeypatch, "judge")
    t = texts(at)
    r = judged["result"]
    assert "B win rate not claimed" in t and "no win rate is claimed: position consistency 0%" in t
    assert "Panel of 2 judges" in t and "Fleiss' kappa" in t
    judges = frame_with(at, "fingerprint")
    assert list(judges["model"]) == ["judge-one", "judge-two"] and set(judges["fingerprint"]) == {"fp_fault"}
    pairs = frame_with(at, "p_b")
    assert len(pairs) == 3 and set(pairs["outcome"]) == {"tie"}
    # the selected pair: each judge's two orders with probabilities and the raw reply, literally
    plain = t.replace("\\", "")  # captions are markdown-escaped
    assert "P(A) 68.9%  P(B) 27.8%  P(tie) 3.3%" in plain  # A first: answer 1 = A, 0.62 / 0.90
    assert "P(A) 27.8%  P(B) 68.9%" in plain  # B first: answer 1 = B
    assert "mass on 1 / 2 / tie: 90.0%" in plain
    assert sum(1 for e in at.code if str(e.value) == "1") == 4  # 2 judges x 2 orders
    assert "judge reasoning (empty)" not in t and "(empty)" not in t
    tokens = frame_with(at, "logprob")
    assert "<script>x</script>" in list(tokens["token"])  # shown as data, never as markup
    assert r.panel is not None and f"{r.panel.fleiss_kappa:.3f}" in t
