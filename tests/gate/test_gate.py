"""`tunebench gate`: policy loading (file:line errors), each rule kind, fail-closed paths (missing
data on one side), Holm's step-down on one comparison, metric direction, power warnings, the CLI's
exit codes and JSON output, stored verdicts.

Mock models answer a 60-sample user suite ("gate-suite", and an identical "general-suite"): each
script gets the category of sample i right or wrong by a rule given per test, so every delta, W/T/L
count and interval is known or computed from the runs themselves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from builders import write_category_script, write_category_suite

from harness import stats
from harness.cli.main import main as cli
from harness.compare import compare_runs
from harness.errors import InputError
from harness.gate import GatePolicy, Verdict, evaluate_gate, get_verdict, load_policy
from harness.models import parse_spec
from harness.runner import run_suite
from harness.scorers import BaseScorer, ScoreContext
from harness.scorers.base import scorer_registry
from harness.store import Store
from harness.suite import load_suite
from harness.types import Completion, Sample, Score

N = 60


def write_suite(root: Path, name: str) -> Path:
    return write_category_suite(root, name, N, description="gate tests")


def write_script(path: Path, correct: Callable[[int], bool]) -> str:
    return f"mock:{write_category_script(path, correct, N)}"


def all_right(i: int) -> bool:
    return True


def first_half(i: int) -> bool:  # 30/60
    return i < 30


@dataclass
class Env:
    tmp: Path
    store: Store
    gate_suite: Path
    general_suite: Path
    cap: pytest.CaptureFixture[str]

    def spec(self, tag: str, correct: Callable[[int], bool]) -> str:
        return write_script(self.tmp / f"{tag}.yaml", correct)

    def run(
        self, correct: Callable[[int], bool], tag: str, suite: str = "gate", limit: int | None = None
    ) -> str:
        spec = parse_spec(self.spec(tag, correct))
        s = load_suite(self.gate_suite if suite == "gate" else self.general_suite)
        return run_suite(s, spec, store=self.store, limit=limit, progress=False).id

    def policy(self, text: str, name: str = "policy.yaml") -> Path:
        p = self.tmp / name
        p.write_text(text)
        return p


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Env:
    monkeypatch.setenv("TUNEBENCH_HOME", str(tmp_path / "ws"))
    return Env(
        tmp_path,
        Store(),
        write_suite(tmp_path / "gate-suite", "gate-suite"),
        write_suite(tmp_path / "general-suite", "general-suite"),
        capsys,
    )


def policy_text(*rules: str, extra: str = "") -> str:
    body = "".join(f"  - {r}\n" for r in rules)
    return f"name: test-policy\n{extra}rules:\n{body}"


def gate(
    env: Env, policy: Path, candidates: list[str], baselines: list[str] | None = None, *more: str
) -> tuple[int, str, str]:
    """Run `tunebench gate` in-process: (exit code, stdout, stderr)."""
    args = ["gate", "--policy", str(policy)]
    for c in candidates:
        args += ["--candidate", c]
    for b in baselines or []:
        args += ["--baseline", b]
    code = cli([*args, *more])
    out, err = env.cap.readouterr()
    return code, out, err


def rule_line(out: str, needle: str) -> str:
    return next(line for line in out.splitlines() if needle in line)


# --------------------------------------------------------------------------- rule kinds (CLI)


def test_regression_on_general_suite_fails_non_inferior(env: Env) -> None:
    base = env.run(all_right, "base", suite="general")
    cand = env.run(lambda i: i >= 15, "cand", suite="general")  # 15 losses: delta -0.25
    pol = env.policy(
        policy_text("{suite: ./general-suite, metric: category, rule: non_inferior, margin: 0.05}")
    )
    code, out, _ = gate(env, pol, [cand], [base])
    assert code == 1
    line = rule_line(out, "general-suite:category")
    assert line.startswith("FAIL") and "non_inferior(margin=0.05)" in line
    assert "non_inferior: lower CI bound of delta" in line and "regressed beyond the margin" in line
    assert "delta=-0.250" in line
    assert out.splitlines()[-2].startswith("verdict: FAIL  1 of 1 rule(s)")


def test_improving_candidate_passes(env: Env) -> None:
    base = env.run(first_half, "base")
    cand = env.run(lambda i: i < 30 or i >= 35, "cand")  # 25 wins, no losses
    pol = env.policy(
        policy_text(
            "{suite: ./gate-suite, metric: category, rule: improves, margin: 0.1}",
            "{suite: ./gate-suite, metric: json_valid, rule: non_inferior, margin: 0.02}",
        )
    )
    code, out, _ = gate(env, pol, [cand], [base])
    assert code == 0, out
    assert rule_line(out, "category improves").startswith("PASS")
    assert rule_line(out, "json_valid non_inferior").startswith("PASS")
    assert "verdict: PASS" in out


def test_missing_metric_fails_closed(env: Env) -> None:
    base = env.run(first_half, "base")
    cand = env.run(all_right, "cand")
    pol = env.policy(policy_text("{suite: ./gate-suite, metric: categroy, rule: improves}"))
    code, out, _ = gate(env, pol, [cand], [base])
    assert code == 1
    line = rule_line(out, "categroy")
    assert line.startswith("FAIL")
    assert "metric 'categroy' missing from the candidate run" in line and "did you mean 'category'" in line


def test_missing_candidate_run_for_a_suite_fails_closed(env: Env) -> None:
    base_g = env.run(first_half, "base")
    base_gen = env.run(first_half, "base", suite="general")
    cand = env.run(all_right, "cand")  # no candidate run of general-suite
    pol = env.policy(
        policy_text(
            "{suite: ./gate-suite, metric: category, rule: improves}",
            "{suite: ./general-suite, metric: category, rule: non_inferior, margin: 0.05}",
        )
    )
    code, out, _ = gate(env, pol, [cand], [base_g, base_gen])
    assert code == 1
    assert rule_line(out, "gate-suite:category").startswith("PASS")
    line = rule_line(out, "general-suite:category")
    assert line.startswith("FAIL") and "no candidate run for suite 'general-suite'" in line


def test_too_few_samples_fails(env: Env) -> None:
    base = env.run(first_half, "base")
    cand = env.run(all_right, "cand")
    pol = env.policy(
        policy_text(
            "{suite: ./gate-suite, metric: category, rule: improves}",
            "{suite: ./gate-suite, metric: category, rule: min_samples, min: 100}",
            extra="min_samples: 30\n",
        )
    )
    code, out, _ = gate(env, pol, [cand], [base])
    assert code == 1
    assert rule_line(out, "improves").startswith("PASS")
    assert "min_samples: n=60 < 100" in rule_line(out, "min_samples(100)")
    # the policy-wide minimum fails every rule
    pol2 = env.policy(
        policy_text("{suite: ./gate-suite, metric: category, rule: improves}", extra="min_samples: 61\n"),
        name="p2.yaml",
    )
    code, out, _ = gate(env, pol2, [cand], [base])
    assert code == 1
    assert "too few samples: n=60 < policy min_samples 61" in rule_line(out, "improves")


def test_at_least_reads_the_lower_ci_bound(env: Env) -> None:
    cand = env.run(lambda i: i < 50, "cand")  # 50/60 = 0.833
    m = env.store.get_run(cand).metrics["category"]
    assert m.ci_low is not None and m.value is not None
    assert m.ci_low < 0.8 < m.value  # the point estimate clears 0.8, the lower bound does not
    pol = env.policy(
        policy_text(
            "{suite: ./gate-suite, metric: category, rule: at_least, threshold: 0.8}",
            f"{{suite: ./gate-suite, metric: category, rule: at_least, threshold: {m.ci_low - 0.01:.4f}}}",
        )
    )
    code, out, _ = gate(env, pol, [cand])  # at_least needs no baseline
    assert code == 1
    lines = [ln for ln in out.splitlines() if "at_least" in ln]
    assert lines[0].startswith("FAIL") and f"lower CI bound {m.ci_low:.3f} < 0.8" in lines[0]
    assert "point estimate 0.833" in lines[0]
    assert lines[1].startswith("PASS")


def test_max_regressed_samples_counts_losses(env: Env) -> None:
    base = env.run(first_half, "base")
    cand = env.run(lambda i: 3 <= i < 30 or i >= 40, "cand")  # loses 0-2, wins 40-59
    pol = env.policy(
        policy_text(
            "{suite: ./gate-suite, metric: category, rule: max_regressed_samples, max: 3}",
            "{suite: ./gate-suite, metric: category, rule: max_regressed_samples, max: 2}",
        )
    )
    code, out, _ = gate(env, pol, [cand], [base])
    assert code == 1
    ok, bad = rule_line(out, "max_regressed_samples(3)"), rule_line(out, "max_regressed_samples(2)")
    assert ok.startswith("PASS") and "W/T/L=20/37/3" in ok and "3 sample(s) regressed <= 3" in ok
    assert bad.startswith("FAIL") and "3 sample(s) regressed > 2" in bad


def test_missing_baseline_fails_closed_and_unknown_run_is_input_error(env: Env) -> None:
    cand = env.run(all_right, "cand")
    base_gen = env.run(first_half, "base", suite="general")
    pol = env.policy(policy_text("{suite: ./gate-suite, metric: category, rule: improves}"))
    code, out, _ = gate(env, pol, [cand], [base_gen])
    assert code == 1
    assert "no baseline run for suite 'gate-suite'" in rule_line(out, "improves")
    code, _, err = gate(env, pol, ["no-such-run"], [base_gen])
    assert code == 2 and "no run 'no-such-run'" in err
    code, _, err = gate(env, pol, [cand])  # a comparison rule and no baseline at all
    assert code == 2 and "--against blessed" in err


def test_incomparable_runs_fail_the_rule_with_the_refusal(env: Env) -> None:
    base = env.run(first_half, "base", limit=40)
    cand = env.run(all_right, "cand")
    pol = env.policy(policy_text("{suite: ./gate-suite, metric: category, rule: non_inferior}"))
    code, out, _ = gate(env, pol, [cand], [base])
    assert code == 1
    line = rule_line(out, "non_inferior")
    assert "cannot compare" in line and "sample ids differ" in line


def test_model_spec_candidate_runs_each_suite_on_the_baselines_samples(env: Env) -> None:
    base = env.run(first_half, "base", limit=45)
    spec = env.spec("cand", all_right)
    pol = env.policy(policy_text("{suite: ./gate-suite, metric: category, rule: improves}"))
    code, out, _ = gate(env, pol, [spec], [base], "--no-progress")
    assert code == 0, out
    assert "note: ran " in out and "limit=45" in out
    assert "n=45" in rule_line(out, "improves")


# --------------------------------------------------------------------------- Holm


def test_holm_step_down_fails_a_borderline_rule_that_passes_alone(env: Env) -> None:
    base = env.run(first_half, "base")
    cand = env.run(lambda i: i < 25 or 30 <= i < 50, "cand")  # 20 wins, 5 losses
    b = stats.resamples_for(0.05, 2)  # the gate's resamples for a family of two
    cmp = compare_runs(env.store, base, cand, n_boot=b, save=False)
    boot = cmp.metric("category").bootstrap_deltas
    assert boot is not None and boot.size == b
    # same resample indices for every metric: one paired bootstrap distribution per comparison
    cols = [env.store.score_values(r, env.store.sample_ids(base)) for r in (base, cand)]
    d = np.column_stack([cols[1][m] - cols[0][m] for m in ("category", "json_valid")])
    assert np.allclose(boot, stats.resample_sums(d, n_boot=b, seed=0)[:, 0] / N)
    # a margin whose one-sided p lies in (alpha / 2, alpha]: passes alone, fails at Holm's alpha / 2
    values = np.unique(boot)
    mids = [(x + y) / 2 for x, y in zip(values[:-1], values[1:], strict=True) if x > 0]
    margin = next(t for t in mids if 0.025 < stats.margin_p_value(boot, round(t, 6)) <= 0.05)
    rules = (
        f"{{suite: ./gate-suite, metric: category, rule: improves, margin: {margin:.6f}}}",
        "{suite: ./gate-suite, metric: json_valid, rule: improves}",  # all ties: p = 1, fails
    )
    plain = load_policy(env.policy(policy_text(*rules)))
    holm = load_policy(env.policy(policy_text(*rules, extra="holm: true\n"), name="holm.yaml"))
    v_plain = evaluate_gate(env.store, plain, {"gate-suite": cand}, {"gate-suite": base})
    n_cmp = len(env.store.get_records("comparison"))
    v_holm = evaluate_gate(env.store, holm, {"gate-suite": cand}, {"gate-suite": base})
    # one comparison per (baseline, candidate) pair and gate: no record per Holm level
    assert len(env.store.get_records("comparison")) == n_cmp + 1 == 2
    assert v_holm.policy["n_boot"] == b and env.store.get_records("comparison")[-1]["body"]["n_boot"] == b
    rp, rh = v_plain.rules[0], v_holm.rules[0]
    assert rp.passed and not v_plain.rules[1].passed
    assert not rh.passed and not v_holm.passed and v_holm.exit_code == 1
    assert rp.p_value == pytest.approx(rh.p_value) and 0.025 < rh.p_value <= 0.05  # type: ignore[operator]
    assert (rp.test_level, rh.test_level) == (pytest.approx(0.05), pytest.approx(0.025))
    assert rh.p_adjusted == pytest.approx(2 * rh.p_value)  # type: ignore[operator]
    assert rp.p_adjusted is None
    # the reported CI stays the comparison's 95% CI; the decision reads the one-sided bound
    assert rp.ci_level == rh.ci_level == pytest.approx(0.95) and rp.ci_low == rh.ci_low
    assert rp.bound is not None and rh.bound is not None and rh.bound <= margin < rp.bound
    assert "Holm level alpha=0.025" in rh.reason and "does not improve" in rh.reason
    assert "one-sided 95%" in rp.reason and "improves" in rp.reason
    assert v_holm.rules[1].test_level == pytest.approx(0.05)  # ranked last (p = 1)


def test_lower_is_better_metric_is_decided_in_its_direction(env: Env) -> None:
    """A metric counting bad outputs (here `category` declared `higher_is_better: false` in the suite,
    read as a flag rate): more is worse, for every rule and for compare's W/T/L."""
    root = env.tmp / "flag-suite"
    write_category_suite(root, "flag-suite", N)
    text = (root / "suite.yaml").read_text()
    flagged = text.replace(
        "args: {field: category}}", "args: {field: category}, higher_is_better: false}"
    ).replace("name: flag-suite", "name: flag-suite")
    assert flagged != text
    (root / "suite.yaml").write_text(flagged)
    suite = load_suite(root)

    def run(tag: str, correct: Callable[[int], bool]) -> str:
        return run_suite(suite, parse_spec(env.spec(tag, correct)), store=env.store, progress=False).id

    base = run("base", first_half)  # flags 30 of 60
    worse = run("worse", all_right)  # flags all 60: delta +0.5 is a regression
    better = run("better", lambda i: i < 10)  # flags 10: delta -0.333 is an improvement
    pol = load_policy(
        env.policy(
            policy_text(
                "{suite: ./flag-suite, metric: category, rule: non_inferior, margin: 0.05}",
                "{suite: ./flag-suite, metric: category, rule: improves, margin: 0.1}",
                "{suite: ./flag-suite, metric: category, rule: max_regressed_samples, max: 5}",
            )
        )
    )
    v = evaluate_gate(env.store, pol, {"flag-suite": worse}, {"flag-suite": base})
    ni, imp, reg = v.rules
    assert not v.passed and not ni.passed and not imp.passed and not reg.passed
    assert ni.higher_is_better is False and ni.threshold == pytest.approx(0.05)
    assert "upper CI bound of delta" in ni.reason and "(lower is better)" in ni.reason
    assert "regressed beyond the margin" in ni.reason
    assert "30 sample(s) regressed > 5" in reg.reason
    v = evaluate_gate(env.store, pol, {"flag-suite": better}, {"flag-suite": base})
    assert v.passed, [r.reason for r in v.rules]
    assert v.rules[1].threshold == pytest.approx(-0.1) and v.rules[1].bound < -0.1  # type: ignore[operator]


def set_none(env: Env, run: str, metric: str, ids: list[str]) -> None:
    """A scorer that errored on these samples: their stored score becomes NULL."""
    with env.store.engine.begin() as conn:  # the test's store, SQLite or PostgreSQL
        for sid in ids:
            conn.execute(
                sa.text("UPDATE scores SET value = NULL WHERE run_id = :r AND name = :m AND sample_id = :s"),
                {"r": run, "m": metric, "s": sid},
            )


def test_errored_samples_score_as_failures_on_their_side(env: Env) -> None:
    """A bounded per-sample metric (category: failure value 0): a sample that errored on one side
    counts as a failure there, so a candidate erroring on items pays for them in the delta."""
    base = env.run(first_half, "base")
    cand = env.run(all_right, "cand")
    pol = load_policy(
        env.policy(policy_text("{suite: ./gate-suite, metric: category, rule: non_inferior, margin: 0.05}"))
    )
    assert evaluate_gate(env.store, pol, {"gate-suite": cand}, {"gate-suite": base}).passed
    set_none(env, base, "category", ["s00", "s01", "s50"])  # base: two right answers lost, s50 was wrong
    set_none(env, cand, "category", ["s00", "s01", "s40", "s41", "s42"])
    r = evaluate_gate(env.store, pol, {"gate-suite": cand}, {"gate-suite": base}).rules[0]
    assert r.n == N and (r.missing_baseline, r.missing_candidate) == (3, 5)
    assert r.delta == pytest.approx((55 - 28) / N)  # 60-5 right vs 30-2 right: the errors count
    assert any("scored as failures (0): baseline 3 errored, candidate 5 errored" in w for w in r.warnings)


UNBOUNDED_SUITE = """\
name: chars-suite
version: "1.0.0"
dataset:
  path: data/{split}.jsonl
  splits: [dev, test]
prompt: {name: plain, template: "{input}"}
generation: {max_new_tokens: 32}
scorers:
  - {name: chars, type: test_reply_chars}
"""


class ReplyChars(BaseScorer):
    """Characters in the reply: an unbounded score, so it declares no failure value."""

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        return [Score(name=self.name, value=float(len(completion.text)))]


def test_missing_data_without_a_failure_value_fails_closed(env: Env) -> None:
    with scorer_registry.temporarily("test_reply_chars", ReplyChars):
        _missing_data_without_a_failure_value_fails_closed(env)


def _missing_data_without_a_failure_value_fails_closed(env: Env) -> None:
    root = env.tmp / "chars-suite"
    write_category_suite(root, "chars-suite", N)
    (root / "suite.yaml").write_text(UNBOUNDED_SUITE)
    suite = load_suite(root)
    base = run_suite(suite, parse_spec(env.spec("cb", first_half)), store=env.store, progress=False).id
    cand = run_suite(suite, parse_spec(env.spec("cc", all_right)), store=env.store, progress=False).id
    pol = load_policy(
        env.policy(policy_text("{suite: ./chars-suite, metric: chars, rule: non_inferior, margin: 100}"))
    )
    assert evaluate_gate(env.store, pol, {"chars-suite": cand}, {"chars-suite": base}).passed
    set_none(env, cand, "chars", ["s40", "s41", "s42"])  # the candidate errored on three
    set_none(env, base, "chars", ["s50"])
    r = evaluate_gate(env.store, pol, {"chars-suite": cand}, {"chars-suite": base}).rules[0]
    assert not r.passed and (r.missing_baseline, r.missing_candidate) == (1, 3)
    assert (
        "missing data fails closed: dropped from the pairing: baseline 1 errored, candidate 3 errored"
        in r.reason
    )


def test_rule_warns_when_its_margin_is_below_the_detectable_effect(env: Env) -> None:
    base = env.run(first_half, "base", limit=40)
    cand = env.run(lambda i: i >= 10, "cand", limit=40)  # 10 losses, 10 wins of 40: delta 0
    pol = env.policy(
        policy_text(
            "{suite: ./gate-suite, metric: category, rule: non_inferior, margin: 0.05}",
            "{suite: ./gate-suite, metric: category, rule: non_inferior, margin: 0.6}",
            extra="min_samples: 10\n",
        )
    )
    code, out, _ = gate(env, pol, [cand], [base])
    assert code == 1
    v = Verdict.model_validate(env.store.get_records("verdict")[-1]["body"])
    small, wide = v.rules
    # binary: sd(d) from the discordance, p10 = p01 = 0.25 -> sqrt(0.5); MDE = 2.486 * 0.707 / sqrt(40)
    mde = stats.minimum_detectable_effect(stats.discordance_sd(0.25, 0.25), 40, 0.05)
    assert small.mde == pytest.approx(mde) and wide.mde == pytest.approx(mde) and 0.2 < mde < 0.35
    want = f"n=40 cannot show non-inferiority within 0.05 at alpha 0.05 (minimum detectable effect {mde:.3f}"
    assert small.warnings and small.warnings[0].startswith(want)
    assert wide.warnings == [] and wide.passed
    lines = out.splitlines()
    at = lines.index(rule_line(out, "non_inferior(margin=0.05)"))
    assert lines[at + 1].strip().startswith("warning: " + want)


# --------------------------------------------------------------------------- malformed policies


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (
            "name: p\nrules:\n  - suite: ./gate-suite\n    metric: category\n   rule: improves\n",
            5,
            "invalid YAML",
        ),
        (
            "name: p\nrules:\n  - suite: ./gate-suite\n    metric: category\n    rule: improves\n    margn: 0.1\n",
            6,
            "rules.0.margn: unknown key",
        ),
        (
            "name: p\nrules:\n  - {suite: ./gate-suite, metric: category, rule: improves}\n"
            "  - suite: ./gate-suite\n    metric: category\n    rule: at_least\n",
            4,
            "rule at_least needs 'threshold'",
        ),
        (
            "name: p\nalpah: 0.1\nrules:\n  - {suite: s, metric: m, rule: improves}\n",
            2,
            "did you mean 'alpha'",
        ),
        ("name: p\nrules:\n  - {suite: s, metric: m, rule: improves, threshold: 0.5}\n", 3, "does not apply"),
        ("name: p\nrules:\n  - {suite: s, metric: m, rule: beats}\n", 3, "rules.0.rule"),
    ],
)
def test_malformed_policy_exits_2_naming_file_and_line(env: Env, text: str, line: int, needle: str) -> None:
    pol = env.policy(text)
    code, out, err = gate(env, pol, ["whatever"], ["x"])
    assert code == 2 and out == ""
    assert needle in err
    assert f"{pol}:{line}: " in err, err
    with pytest.raises(InputError):
        load_policy(pol)


def test_policy_defaults() -> None:
    p = GatePolicy.model_validate(
        {"name": "x", "rules": [{"suite": "s", "metric": "m", "rule": "non_inferior"}]}
    )
    assert (p.alpha, p.holm, p.min_samples) == (0.05, False, 30)
    assert p.rules[0].describe() == "non_inferior(margin=0)"


# --------------------------------------------------------------------------- output and storage


def test_json_output_parses_and_verdict_is_stored(env: Env) -> None:
    base = env.run(first_half, "base")
    cand = env.run(all_right, "cand")
    pol = env.policy(
        policy_text(
            "{suite: ./gate-suite, metric: category, rule: improves, margin: 0.2}",
            "{suite: ./gate-suite, metric: category, rule: at_least, threshold: 0.9}",
        )
    )
    code, out, _ = gate(env, pol, [cand], [base], "--format", "json")
    assert code == 0
    data = json.loads(out)  # JSON only, nothing else on stdout
    v = Verdict.model_validate(data)
    assert v.passed and v.exit_code == 0
    assert v.runs == {"gate-suite": {"baseline": base, "candidate": cand}}
    assert v.policy["name"] == "test-policy" and len(v.policy["sha256"]) == 64
    assert [r.line for r in v.rules] == [3, 4]
    assert v.rules[0].delta == pytest.approx(0.5) and v.rules[0].n == N
    assert set(v.comparisons) == {"gate-suite"}
    stored = env.store.get_records("verdict")
    assert [r["id"] for r in stored] == [v.id]
    assert stored[0]["ref"] == v.candidate and v.candidate.startswith("mock:")
    assert env.store.get_records("comparison")[-1]["id"] == v.comparisons["gate-suite"]
    assert get_verdict(env.store, v.id[:-2]) == v
    with pytest.raises(InputError, match="no verdict"):
        get_verdict(env.store, "verdict-nope")


def test_text_output_one_line_per_rule(env: Env) -> None:
    base = env.run(first_half, "base")
    cand = env.run(all_right, "cand")
    pol = env.policy(
        policy_text(
            "{suite: ./gate-suite, metric: category, rule: improves}",
            "{suite: ./gate-suite, metric: json_valid, rule: min_samples, min: 10}",
        )
    )
    code, out, _ = gate(env, pol, [cand], [base])
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("PASS  gate-suite:category improves(margin=0)")
    assert lines[1].startswith("PASS  gate-suite:json_valid min_samples(10)")
    assert lines[2].startswith("verdict: PASS") and lines[3].startswith("stored verdict verdict-")
