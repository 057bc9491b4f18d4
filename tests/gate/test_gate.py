"""`tunebench gate`: policy loading (file:line errors), each rule kind, fail-closed paths, Holm, the
CLI's exit codes and JSON output, stored verdicts.

Mock models answer a 60-sample user suite ("gate-suite", and an identical "general-suite"): each
script gets the category of sample i right or wrong by a rule given per test, so every delta, W/T/L
count and interval is known or computed from the runs themselves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from builders import write_category_script, write_category_suite

from harness.cli.main import main as cli
from harness.compare import compare_runs
from harness.errors import InputError
from harness.gate import GatePolicy, Verdict, evaluate_gate, get_verdict, load_policy
from harness.models import parse_spec
from harness.runner import run_suite
from harness.store import Store
from harness.suite import load_suite

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


def test_holm_turns_a_borderline_pass_into_a_fail_with_a_wider_ci(env: Env) -> None:
    base = env.run(first_half, "base")
    cand = env.run(lambda i: i < 40, "cand")  # 10 wins, 0 losses: McNemar p ~ 0.002
    # json_valid: all ties, p = 1 -> ranked last (level alpha); category ranked first (alpha / 2)
    c05 = compare_runs(env.store, base, cand, alpha=0.05, save=False).metric("category")
    c025 = compare_runs(env.store, base, cand, alpha=0.025, save=False).metric("category")
    assert c05.ci_low is not None and c025.ci_low is not None
    assert c025.ci_low < c05.ci_low
    margin = (c05.ci_low + c025.ci_low) / 2
    rules = (
        f"{{suite: ./gate-suite, metric: category, rule: improves, margin: {margin:.6f}}}",
        "{suite: ./gate-suite, metric: json_valid, rule: non_inferior, margin: 0.01}",
    )
    plain = load_policy(env.policy(policy_text(*rules)))
    holm = load_policy(env.policy(policy_text(*rules, extra="holm: true\n"), name="holm.yaml"))
    v_plain = evaluate_gate(env.store, plain, {"gate-suite": cand}, {"gate-suite": base})
    v_holm = evaluate_gate(env.store, holm, {"gate-suite": cand}, {"gate-suite": base})
    assert v_plain.passed and v_plain.exit_code == 0
    assert not v_holm.passed and v_holm.exit_code == 1
    rp, rh = v_plain.rules[0], v_holm.rules[0]
    assert rp.passed and not rh.passed
    assert rp.ci_level == pytest.approx(0.95) and rh.ci_level == pytest.approx(0.975)
    assert (
        rh.ci_low is not None and rp.ci_low is not None and rh.ci_high is not None and rp.ci_high is not None
    )
    assert rh.ci_low < rp.ci_low and rh.ci_high >= rp.ci_high  # wider
    assert rh.ci_low == pytest.approx(c025.ci_low)
    assert rh.p_adjusted == pytest.approx(min(1.0, 2 * rh.p_value))  # type: ignore[operator]
    assert "Holm level alpha=0.025" in rh.reason
    assert v_holm.rules[1].passed and "Holm level alpha=0.05" in v_holm.rules[1].reason
    assert rp.p_adjusted is None


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
