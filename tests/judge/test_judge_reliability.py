"""Judge reliability: position bias, length bias and the length-controlled win rate, repeat agreement,
same-family warnings, and Cohen's kappa against (synthetic) human ratings. Same runs as test_judge.py:
len(B) - len(A) = i - 5 on sample i."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openai_fault_server import FaultServer
from sqlalchemy import inspect, text
from test_judge import (
    Env,
    N,
    b_judge,
    first_position_judge,
    judge_for,
    longer_judge,
    make_env,
    verdict,
)

from harness.judge import cohens_kappa, family_warning, model_families, pearson
from harness.pairwise import length_controlled_win_rate
from reports.console.judge import render_pairwise


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_suite: Any) -> Env:
    return make_env(tmp_path, monkeypatch, make_suite)


def test_first_position_judge_is_caught_every_pair_a_tie(env: Env) -> None:
    """Acceptance: a judge that always prefers whatever is shown first has 0% position consistency,
    and since every verdict flips with the order, every pair is a tie."""
    with FaultServer(responder=first_position_judge) as srv:
        r = env.judge(srv)
    rel = r.reliability
    assert rel.position_consistency == 0.0 and rel.n_position == N
    assert rel.first_position_rate == 1.0
    assert r.counts == {"A": 0, "B": 0, "tie": N, "abstain": 0, "error": 0}
    assert all(p.verdict_ab == "A" and p.verdict_ba == "B" and p.consistent is False for p in r.pairs)
    assert r.win_rate_b == 0.5 and r.win_ci_low == 0.5 and r.win_ci_high == 0.5
    assert rel.repeat_agreement == 1.0  # consistently biased is still deterministic
    assert any("position consistency is 0%" in w for w in r.warnings)
    assert "position consistency  0.0%  (0/20" in render_pairwise(r)


def test_longer_answer_judge_shows_length_bias(env: Env) -> None:
    with FaultServer(responder=longer_judge) as srv:
        r = env.judge(srv, repeat_fraction=0)
    y = [{"B": 1.0, "tie": 0.5, "A": 0.0}[p.outcome] for p in r.pairs]
    x = [float(p.len_b - p.len_a) for p in r.pairs]
    assert x == [float(i - 5) for i in range(N)]
    assert r.counts == {"A": 5, "B": 14, "tie": 1, "abstain": 0, "error": 0}
    assert r.win_rate_b == pytest.approx(14.5 / 20)
    assert r.reliability.position_consistency == 1.0
    corr = r.reliability.length_correlation
    assert corr is not None and corr > 0.6
    assert corr == pytest.approx(float(np.corrcoef(x, y)[0, 1]))
    # the length-controlled rate is the least-squares line of y on x, evaluated at x = 0
    slope, intercept = np.polyfit(x, y, 1)
    assert r.lc_win_rate_b == pytest.approx(intercept)
    assert r.lc_win_rate_b is not None and r.win_rate_b - r.lc_win_rate_b > 0.15
    assert r.lc_ci_low is not None and r.lc_ci_high is not None
    assert r.lc_ci_low <= r.lc_win_rate_b <= r.lc_ci_high
    assert r.lc_slope is not None and r.lc_slope > 0
    assert any("correlates with the length difference" in w for w in r.warnings)


def test_length_controlled_rate_without_a_length_effect() -> None:
    y = [1.0, 0.0, 1.0, 0.5, 1.0, 0.0]
    # lengths unrelated to the verdict and centred on zero: the same as the raw rate
    point, lo, hi, slope = length_controlled_win_rate(y, [-1, -1, 1, 0, 1, 0][::1], n_boot=100)
    assert point is not None and lo is not None and hi is not None
    # constant length difference: no regression possible, the raw mean
    point, *_ = length_controlled_win_rate(y, [3.0] * 6, n_boot=100)
    assert point == pytest.approx(sum(y) / 6)
    assert length_controlled_win_rate([], [], n_boot=10) == (None, None, None, None)
    # clipped to [0, 1] when the line leaves the unit interval at zero length difference
    point, *_ = length_controlled_win_rate([1, 1, 1, 0], [10, 11, 12, 9], n_boot=50)
    assert point is not None and 0.0 <= point <= 1.0


def test_repeat_agreement_of_a_nondeterministic_judge(env: Env) -> None:
    asked: dict[str, int] = {}

    def respond(body: Any) -> str:
        key = json.dumps(body["messages"])
        asked[key] = asked.get(key, 0) + 1
        return b_judge(body) if asked[key] == 1 else verdict("tie")

    with FaultServer(responder=respond) as srv:
        r = env.judge(srv, repeat_fraction=0.5)
    rel = r.reliability
    assert rel.n_repeat == 2 * 10 and rel.repeat_agreement == 0.0
    repeated = [p for p in r.pairs if p.repeat_keys]
    assert len(repeated) == 10
    assert all(p.repeat_ab == "tie" and set(p.repeat_keys).isdisjoint({p.key_ab, p.key_ba}) for p in repeated)
    assert r.counts["B"] == N  # the first asking decides the outcome
    assert any("repeat agreement is 0%" in w for w in r.warnings)


# --------------------------------------------------------------------------- model families


def test_model_families() -> None:
    assert model_families("google/gemma-3-270m-it") == {"gemma"}
    assert model_families("Qwen/Qwen2.5-7B-Instruct", "/models/TinyLlama-1.1B") == {"qwen", "llama"}
    assert model_families("microsoft/Phi-3-mini") == {"phi"}
    assert model_families("graphite-model", "alphabet") == set()
    assert model_families("gpt-4o-mini", "mixtral-8x7b") == {"gpt", "mistral"}
    assert family_warning(["gemma-judge"], {"A": ["llama-3"], "B": ["gemma-3-270m"]}) is not None
    assert family_warning(["qwen-judge"], {"A": ["llama-3"], "B": ["gemma-3-270m"]}) is None


def test_same_family_warning_in_a_judgment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_suite: Any
) -> None:
    env = make_env(tmp_path, monkeypatch, make_suite, b_name="gemma-3-candidate.yaml")
    with FaultServer(responder=b_judge) as srv:
        same = env.judge(srv, n=4, repeat_fraction=0, save=False)
        other = judge_for(srv, model="qwen2.5-judge")
        from harness.pairwise import judge_pairwise

        different = judge_pairwise(
            env.store,
            env.a,
            env.b,
            other,
            n=4,
            repeat_fraction=0,
            save=False,
            n_boot=50,
            template="pairwise-v1",
        )
    assert same.reliability.families_b == ["gemma"] and same.reliability.families_judge == []
    assert same.reliability.family_warning is None  # judge-model names no family
    assert different.reliability.family_warning is None
    with FaultServer(responder=b_judge) as srv:
        gemma_judge = judge_pairwise(
            env.store,
            env.a,
            env.b,
            judge_for(srv, model="gemma-3-27b-it"),
            n=4,
            repeat_fraction=0,
            n_boot=50,
            template="pairwise-v1",
        )
    warning = gemma_judge.reliability.family_warning
    assert warning is not None and "B (gemma)" in warning and warning in gemma_judge.warnings
    assert "SAME FAMILY" in render_pairwise(gemma_judge)


# --------------------------------------------------------------------------- agreement with humans


def test_cohens_kappa() -> None:
    assert cohens_kappa(["A", "A", "B", "B"], ["A", "B", "B", "B"]) == pytest.approx(0.5)
    assert cohens_kappa(["A", "B", "tie"], ["A", "B", "tie"]) == pytest.approx(1.0)
    # systematic disagreement is below zero
    assert cohens_kappa(["A", "B", "A", "B"], ["B", "A", "B", "A"]) == pytest.approx(-1.0)
    # one label used by both raters throughout: chance agreement is 1
    assert cohens_kappa(["B", "B"], ["B", "B"]) == 1.0
    assert cohens_kappa([], []) is None
    with pytest.raises(ValueError):
        cohens_kappa(["A"], [])
    # the textbook example: 50 items, 20+15 agreements, kappa = 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohens_kappa(a, b) == pytest.approx(0.4)
    assert pearson([1, 2, 3], [1, 1, 1]) is None


def test_kappa_against_synthetic_human_ratings(env: Env) -> None:
    with FaultServer(responder=longer_judge) as srv:
        before = env.judge(srv, repeat_fraction=0)
        assert before.reliability.kappa is None and before.reliability.n_rated == 0
        outcome = {p.sample_id: p.outcome for p in before.pairs}
        # the shape the rating UI writes: run_a, run_b, sample_id, preference (+ anything else); the
        # store's own `ratings` table when it has one, else a minimal table of that shape
        if not env.store.has_table("ratings"):
            with env.store.engine.begin() as conn:
                conn.execute(
                    text(
                        "CREATE TABLE ratings (id INTEGER PRIMARY KEY, run_a TEXT, run_b TEXT, "
                        "sample_id TEXT, preference TEXT, kind TEXT)"
                    )
                )
        columns = {c["name"] for c in inspect(env.store.engine).get_columns("ratings")}
        rows = []
        for i, sid in enumerate(sorted(outcome)):
            pref = outcome[sid]
            if i in (0, 7):
                pref = "both_bad"  # read as a tie
            if i == 12:
                pref = "A"
            rows.append({"run_a": env.a, "run_b": env.b, "sample_id": sid, "preference": pref})
        # one rating stored with the runs swapped: its A/B preference is swapped back
        sid15 = sorted(outcome)[15]
        swapped = {"A": "B", "B": "A"}.get(outcome[sid15], outcome[sid15])
        rows.append({"run_a": env.b, "run_b": env.a, "sample_id": sid15, "preference": swapped})
        other = {"run_a": env.a, "run_b": "some-other-run", "sample_id": sid15, "preference": "A"}
        rows.append(other)  # another pair of runs
        rows.append({"run_a": env.a, "run_b": env.b, "sample_id": sid15, "preference": "not-a-preference"})
        rows.append({"run_a": env.a, "run_b": env.b, "sample_id": sid15, "preference": "A", "kind": "gold"})
        extra = {"campaign_id": "c1", "kind": "pair", "first": "A", "comment": "", "created_at": "2026-01-01"}
        with env.store.engine.begin() as conn:
            for i, row in enumerate(rows):
                full = {**extra, "rater": f"rater{i}", "item": f"item{i}", **row}
                full = {k: v for k, v in full.items() if k in columns}
                names = ", ".join(full)
                conn.execute(
                    text(f"INSERT INTO ratings ({names}) VALUES ({', '.join(':' + k for k in full)})"), full
                )
        after = env.judge(srv, repeat_fraction=0)
    judge_labels, human_labels = [], []
    for i, sid in enumerate(sorted(outcome)):
        judge_labels.append(outcome[sid])
        human_labels.append("tie" if i in (0, 7) else ("A" if i == 12 else outcome[sid]))
    judge_labels.append(outcome[sid15])
    human_labels.append(outcome[sid15])
    expected = cohens_kappa(judge_labels, human_labels)
    assert after.reliability.n_rated == N + 1
    assert after.reliability.kappa == pytest.approx(expected)
    assert expected is not None and 0.5 < expected < 1.0
    assert f"Cohen's kappa {after.reliability.kappa:.3f} on {N + 1} rated pair(s)" in render_pairwise(after)
