"""Verdicts from log-probabilities, against a real local HTTP server (tests/openai_fault_server.py):
an endpoint that returns `top_logprobs`, one that returns none (the reply text is parsed), one that
rejects the parameter; abstention below the probability floor; panels of judges with Fleiss' kappa;
the claim rule; the calibration of the judge to human ratings (PPI). Same runs as test_judge.py:
A answers "alpha x x x x x", B "beta" plus i words on sample i."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai_fault_server import Fault, FaultServer, with_logprobs
from test_judge import Env, N, judge_for, last_user, make_env

from harness.cli.main import main as cli
from harness.judge import LABEL_REPARSE_MESSAGE
from harness.pairwise import judge_pairwise
from harness.stats import fleiss_kappa_labels
from harness.store.human_ratings import insert_rating
from reports.console.judge import render_pairwise


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_suite: Any) -> Env:
    return make_env(tmp_path, monkeypatch, make_suite)


def shown_last(body: Any) -> tuple[str, str]:
    """(answer 1, answer 2) of the pair being judged (the last user turn: the few-shot template's
    earlier turns are worked examples)."""
    text = last_user(body)
    one = text.split("[Answer 1]\n", 1)[1].split("\n[End of answer 1]", 1)[0]
    two = text.split("[Answer 2]\n", 1)[1].split("\n[End of answer 2]", 1)[0]
    return one, two


def sample_no(answer: str) -> int:
    return len(answer.split()) - 1 if answer.startswith("beta") else -1


def beta_probs(body: Any, p_beta: float = 0.7) -> Fault:
    """Prefers beta's answer with probability p_beta; 0.2 for the other, 0.05 tie, the rest elsewhere."""
    one, _ = shown_last(body)
    beta, alpha = ("1", "2") if one.startswith("beta") else ("2", "1")
    rest = 1.0 - p_beta - 0.2 - 0.05
    return with_logprobs({beta: p_beta, alpha: 0.2, " tie": 0.05, "The": rest})


def judge(env: Env, srv: FaultServer | str | list[str], **kw: Any) -> Any:
    kw.setdefault("n_boot", 200)
    kw.setdefault("repeat_fraction", 0)
    spec = judge_for(srv) if isinstance(srv, FaultServer) else srv
    return judge_pairwise(env.store, env.a, env.b, spec, **kw)


def test_verdicts_from_top_logprobs(env: Env) -> None:
    with FaultServer(responder=beta_probs) as srv:
        r = judge(env, srv, n=6)
        reqs = srv.requests
    assert r.counts == {"A": 0, "B": 6, "tie": 0, "abstain": 0, "error": 0}
    assert r.template == "pairwise-choice-fewshot-v1" and r.win_rate_claimed and r.claim_note is None
    assert len(reqs) == 12
    for q in reqs:  # one token, with the first token's 20 alternatives
        assert q.body["logprobs"] is True and q.body["top_logprobs"] == 20 and q.body["max_tokens"] == 1
    p = r.pairs[0]
    assert p.mass_ab == pytest.approx(0.95) and p.probs_ab is not None
    assert p.probs_ab["B"] == pytest.approx(0.7 / 0.95, abs=1e-5)
    assert p.probs_ab["tie"] == pytest.approx(0.05 / 0.95, abs=1e-5)  # " tie" counts as tie
    assert p.p_b == pytest.approx((0.7 + 0.025) / 0.95, abs=1e-5)
    rows = env.store.get_judge_calls(r.call_keys)
    for row in rows.values():  # the distribution is stored with the raw reply
        parsed = row["parsed"]
        assert parsed["mode"] == "probs" and parsed["mass"] == pytest.approx(0.95)
        assert sum(parsed["probs"].values()) <= 1.0 + 1e-9
        assert parsed["top_logprobs"][0][0] == row["reply"]  # the reply is the most probable token
        assert row["reply"] in ("1", "2") and row["params"]["top_logprobs"] == 20
    (info,) = [j.info for j in r.judges]
    assert info["logprobs"] is True and info["fingerprint"] == "fp_fault" and info["endpoint"] == srv.base_url
    out = render_pairwise(r)
    assert "verdict read from the judge's probabilities over 1 / 2 / tie" in out
    assert "mass on 1 / 2 / tie   95.0%" in out and "fp_fault" in out


def test_low_mass_is_an_abstention_never_a_score(env: Env) -> None:
    def respond(body: Any) -> Fault:
        one, two = shown_last(body)
        i = max(sample_no(one), sample_no(two))
        return beta_probs(body, 0.7) if i % 2 else with_logprobs({"1": 0.2, "2": 0.1, "The": 0.7})

    with FaultServer(responder=respond) as srv:
        r = judge(env, srv)
        n_requests = len(srv.requests)
        again = judge(env, srv, min_mass=0.25)  # the same calls, a lower floor: no new request
        assert len(srv.requests) == n_requests
    assert r.counts == {"A": 0, "B": N // 2, "tie": 0, "abstain": N // 2, "error": 0}
    assert r.n_judged == N // 2 and r.win_rate_b == 1.0  # abstentions are not in the win rate
    abstained = [p for p in r.pairs if p.outcome == "abstain"]
    assert all(
        p.abstain and "30.0% of the judge's probability, below the floor of 50%" in p.abstain
        for p in abstained
    )
    assert all(p.consistent is None and p.error is None for p in abstained)
    assert any("abstained on 10 of 20" in w for w in r.warnings)
    # with a floor of 25% those orders pick answer 1 whichever it is: a split verdict, a tie
    assert again.counts["abstain"] == 0 and again.counts["tie"] == N // 2
    assert "abstain 10" in render_pairwise(r)


def test_endpoint_without_logprobs_parses_the_reply_text(env: Env) -> None:
    def respond(body: Any) -> str:
        one, _ = shown_last(body)
        return "1" if one.startswith("beta") else "2."

    with FaultServer(responder=respond) as srv:
        r = judge(env, srv, n=4)
    assert r.counts["B"] == 4 and r.counts["error"] == 0
    rows = env.store.get_judge_calls(r.call_keys)
    assert all(row["parsed"] == {"mode": "text", "label": row["reply"].strip(".")} for row in rows.values())
    assert r.judges[0].info["logprobs"] is False and r.pairs[0].probs_ab is None
    assert r.reliability.mean_mass is None
    assert "reply text (no logprobs)" in render_pairwise(r)


def test_endpoint_rejecting_logprobs_is_asked_again_without(env: Env) -> None:
    def respond(body: Any) -> str:
        one, _ = shown_last(body)
        return "1" if one.startswith("beta") else "2"

    with FaultServer(responder=respond, reject_logprobs=True) as srv:
        r = judge(env, srv, n=3)
        reqs = srv.requests
    assert r.counts["B"] == 3 and r.counts["error"] == 0
    assert sum(1 for q in reqs if q.body.get("logprobs")) == 6  # rejected with a 400 naming logprobs
    assert sum(1 for q in reqs if "logprobs" not in q.body) == 6  # asked again without them
    assert r.usage.errors == 0


def test_unparseable_label_is_reasked_once_then_an_error(env: Env) -> None:
    with FaultServer(responder=lambda body: "Answer one is better") as srv:
        r = judge(env, srv, n=1)
        reqs = srv.requests
    assert r.counts["error"] == 1 and r.win_rate_b is None
    reasks = [q for q in reqs if last_user(q.body).startswith("Your reply could not be parsed")]
    assert len(reasks) == 2
    assert last_user(reasks[0].body) == LABEL_REPARSE_MESSAGE.format(
        error="expected one of 1, 2, tie, got 'Answer one is better'", labels="1, 2, tie"
    )


def test_panel_majority_fleiss_kappa_and_identities(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    def respond(body: Any) -> Fault:
        one, two = shown_last(body)
        i = max(sample_no(one), sample_no(two))
        model = body["model"]
        if model == "contrarian" or (model == "wobbly" and i % 4 == 0):
            alpha = "1" if one.startswith("alpha") else "2"
            return with_logprobs({alpha: 0.8, {"1": "2", "2": "1"}[alpha]: 0.15})
        return beta_probs(body)

    with FaultServer(responder=respond) as srv:
        specs = [judge_for(srv, m) for m in ("steady", "wobbly", "contrarian")]
        r = judge(env, specs)
        rc = cli(["judge", env.a, env.b, *sum((["--judge", s] for s in specs), []), "--n", "8"])
        out = capsys.readouterr().out
    assert rc == 0
    # 2 of 3 say B, except where "wobbly" sides with "contrarian" (samples 0, 4, 8, 12, 16)
    assert r.counts == {"A": 5, "B": 15, "tie": 0, "abstain": 0, "error": 0} and r.judge.startswith("panel: ")
    assert r.panel is not None and r.panel.n_judges == 3 and r.panel.n_items == N
    units = [[v.outcome for v in p.votes] for p in r.pairs]
    assert r.panel.fleiss_kappa == pytest.approx(fleiss_kappa_labels(units))
    assert r.panel.fleiss_kappa is not None and r.panel.fleiss_kappa < 0.2
    assert r.panel.unanimous == 0.0
    by_label = {j.label: j for j in r.judges}
    assert by_label[specs[2]].counts["A"] == N and by_label[specs[0]].counts["B"] == N
    assert by_label[specs[1]].counts == {"A": 5, "B": 15, "tie": 0, "abstain": 0, "error": 0}
    for j in r.judges:  # each judge's identity is recorded
        assert j.info["model"] in ("steady", "wobbly", "contrarian") and j.info["endpoint"] == srv.base_url
        assert j.info["fingerprint"] == "fp_fault" and len(j.info["identity"]) == 64
    stored = env.store.get_records("judgment")[-1]["body"]
    assert len(stored["judges"]) == 3 and stored["panel"]["fleiss_kappa"] is not None
    assert len(stored["pairs"][0]["votes"]) == 3
    assert "panel of 3 judges" in out and "Fleiss' kappa" in out and "judge 3" in out


def test_first_position_judge_claims_no_win_rate(env: Env) -> None:
    with FaultServer(responder=lambda body: with_logprobs({"1": 0.9, "2": 0.1})) as srv:
        r = judge(env, srv)
    assert r.reliability.position_consistency == 0.0 and r.reliability.first_position_rate == 1.0
    assert not r.win_rate_claimed and r.claim_note is not None
    assert "position consistency 0% is below 60%" in r.claim_note
    out = render_pairwise(r)
    assert "NOT CLAIMED" in out and "no win rate is claimed" in out


def _rate(env: Env, ratings: dict[str, list[str]]) -> None:
    n = 0
    for sid, prefs in ratings.items():
        for pref in prefs:
            n += 1
            row = {
                "campaign_id": "c1",
                "rater": f"r{n}",
                "item": f"i{n}",
                "kind": "pair",
                "sample_id": sid,
                "run_a": env.a,
                "run_b": env.b,
                "preference": pref,
                "first": "A",
                "comment": "",
                "created_at": "2026-01-01T00:00:00Z",
            }
            assert insert_rating(env.store, row)


def test_calibration_to_human_ratings_with_ppi(env: Env) -> None:
    with FaultServer(responder=beta_probs) as srv:
        before = judge(env, srv)
        assert before.calibration is None
        ids = [p.sample_id for p in before.pairs]
        # humans disagree with the judge (which always says B) on half the rated pairs
        _rate(env, {sid: (["A"] if i % 2 else ["B", "B"]) for i, sid in enumerate(ids[:8])})
        r = judge(env, srv)
    cal = r.calibration
    assert cal is not None and (cal.n_judged, cal.n_rated, cal.n_ratings) == (N, 8, 12)
    assert cal.judge_win_rate == 1.0 and cal.human_win_rate_rated == 0.5
    # theta = mean(f on all) + mean(y - f on rated) = 1 + (0.5 - 1) = 0.5
    assert cal.ppi_win_rate == pytest.approx(0.5)
    assert cal.ppi_ci_low is not None and cal.ppi_ci_high is not None
    assert cal.ppi_ci_low < 0.5 < cal.ppi_ci_high and cal.ppi_ci_high < 1.0
    assert cal.agreement == pytest.approx(8 / 12)
    assert cal.agreement_ci_low is not None and cal.agreement_ci_low < 8 / 12 < (cal.agreement_ci_high or 0)
    assert "random sample" in (cal.note or "")
    out = render_pairwise(r)
    assert "human win rate (PPI)  0.500" in out and "judge win rate (raw)  1.000" in out
    body = env.store.get_records("judgment")[-1]["body"]
    assert body["calibration"]["ppi_win_rate"] == pytest.approx(0.5)
    assert json.dumps(body)  # the record is plain JSON


# --------------------------------------------------------------------------- rubric grades


LABEL_RUBRIC_SUITE = """\
name: rubric-probs
version: "1.0.0"
dataset:
  path: data/{split}.jsonl
  splits: [train, dev, test]
prompt:
  name: plain
  template: "{input}"
generation:
  max_new_tokens: 32
scorers:
  - name: judge
    type: judge_rubric
    args: {judge: "JUDGE", criteria: [accuracy, format], max_retries: 0, timeout_s: 5}
"""


def test_rubric_grades_are_expected_grades_from_probabilities(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_suite: Any
) -> None:
    from harness.judge import judge_usage_for_run
    from harness.models import parse_spec
    from harness.runner import run_suite
    from harness.store import Store
    from harness.suite import load_suite

    monkeypatch.setenv("TUNEBENCH_HOME", str(tmp_path / "ws"))
    script = tmp_path / "m.yaml"
    rules = [{"contains": f"ticket test {i}:", "reply": f"answer #{i}"} for i in range(4)]
    script.write_text(json.dumps({"rules": rules}))

    def grade(body: Any) -> Fault:
        text = last_user(body)
        i = int(text.split("answer #")[1].split()[0])
        if "Criterion: format" in text:
            return with_logprobs({"5": 0.6, "4": 0.3, "x": 0.1})  # expected (5*.6 + 4*.3) / .9
        if i == 3:
            return with_logprobs({"3": 0.1, "The": 0.9})  # abstains: 10% on the grades
        return with_logprobs({str(1 + i): 0.8, "Grade": 0.2})

    with FaultServer(responder=grade) as srv:
        suite_dir = make_suite(
            tmp_path / "rp",
            {"train": 2, "dev": 2, "test": 4},
            LABEL_RUBRIC_SUITE.replace("JUDGE", judge_for(srv)),
        )
        store = Store()
        rec = run_suite(load_suite(suite_dir), parse_spec(f"mock:{script}"), store=store, progress=False)
        reqs = srv.requests
    assert len(reqs) == 4 * 2  # one call per sample and criterion
    assert all(q.body["max_tokens"] == 1 and q.body["top_logprobs"] == 20 for q in reqs)
    assert any("Criterion: accuracy: Is the content correct" in last_user(q.body) for q in reqs)
    tab = store.score_table(rec.id)
    fmt = (5 * 0.6 + 4 * 0.3) / 0.9
    for i in range(3):
        row = tab[f"test-00{i}"]
        assert row["judge.accuracy"].value == pytest.approx(1 + i)
        assert row["judge.format"].value == pytest.approx(fmt)
        assert row["judge.overall"].value == pytest.approx((1 + i + fmt) / 2)
        assert row["judge.errors"].value == 0.0
        assert row["judge.format"].data["probs"]["format"]["5"] == pytest.approx(0.6 / 0.9, abs=1e-5)
    row = tab["test-003"]
    assert row["judge.accuracy"].value is None and "judge abstained" in row["judge.accuracy"].detail
    assert row["judge.overall"].value is None and row["judge.errors"].value == 1.0
    assert row["judge.format"].value == pytest.approx(fmt)
    (u,) = judge_usage_for_run(store, rec.id).values()
    assert u.calls == 8


def test_identity_of_a_judge_served_from_the_cache(env: Env) -> None:
    """A judgment whose calls all come from the cache still records how the verdicts were read and
    the endpoint's fingerprint (stored with each raw reply)."""
    with FaultServer(responder=beta_probs) as srv:
        first = judge(env, srv, n=3)
        again = judge(env, srv, n=3)
        assert len(srv.requests) == 6
    assert again.usage.cached == 6 and again.usage.http_requests == 0
    for r in (first, again):
        (info,) = [j.info for j in r.judges]
        assert info["logprobs"] is True and info["fingerprint"] == "fp_fault"
    row = next(iter(env.store.get_judge_calls(first.call_keys).values()))
    assert row["replies"][0]["fingerprint"] == "fp_fault"
