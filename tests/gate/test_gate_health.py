"""Output-health gate rules (`max_truncated`, `max_repetition`) and the truncation warning every
verdict prints under it (console, Markdown, HTML), whatever its rules say.

The 60-sample category suite of tests/builders.py has `max_new_tokens: 32`; the mock backend cuts a
reply longer than 8 characters per token (256 characters) and finishes it with "length", so a
script whose replies are long runs every output to the length limit, as a model that never learned
to stop does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from builders import LABELS, write_category_suite

from harness.cli.main import main as cli
from harness.errors import InputError
from harness.gate import Verdict, evaluate_gate, load_policy
from harness.models import parse_spec
from harness.runner import run_suite
from harness.store import Store, runs
from harness.suite import load_suite
from reports.html import render_html
from reports.markdown import render_markdown

N = 60
RAMBLE = "\n".join(["## Assessment", "wpilibj FBSDKInternal"] * 20)  # ~700 characters: cut at 256


def reply(i: int) -> str:
    return json.dumps({"category": LABELS[i % 3]})


class Env:
    def __init__(self, tmp: Path, cap: pytest.CaptureFixture[str]) -> None:
        self.tmp, self.cap = tmp, cap
        self.store = Store()
        self.suite = write_category_suite(tmp / "gate-suite", "gate-suite", N, description="health")

    def run(self, tag: str, text: str = "") -> str:
        """A run answering sample i with its right category followed by `text`."""
        rules = [{"contains": f"[s{i:02d}]", "reply": reply(i) + text} for i in range(N)]
        path = self.tmp / f"{tag}.yaml"
        path.write_text(yaml.safe_dump({"default": "?", "rules": rules}))
        spec = parse_spec(f"mock:{path}")
        return run_suite(load_suite(self.suite), spec, store=self.store, progress=False).id

    def policy(self, *rules: str, name: str = "policy.yaml") -> Path:
        p = self.tmp / name
        p.write_text("name: health-policy\nrules:\n" + "".join(f"  - {r}\n" for r in rules))
        return p

    def gate(self, policy: Path, cand: str, base: str | None = None) -> tuple[int, str, str]:
        args = ["gate", "--policy", str(policy), "--candidate", cand]
        code = cli(args + (["--baseline", base] if base else []))
        out, err = self.cap.readouterr()
        return code, out, err


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Env:
    monkeypatch.setenv("TUNEBENCH_HOME", str(tmp_path / "ws"))
    return Env(tmp_path, capsys)


def line_of(out: str, needle: str) -> str:
    return next(line for line in out.splitlines() if needle in line)


def test_candidate_that_runs_to_the_length_limit_fails_max_truncated(env: Env) -> None:
    base = env.run("base")
    cand = env.run("cand", "\n" + RAMBLE)
    health = env.store.get_run(cand).health
    assert health["truncated"] == 1.0 and health["n"] == N
    assert env.store.get_run(base).health["truncated"] == 0.0
    pol = env.policy(
        "{suite: ./gate-suite, metric: category, rule: at_least, threshold: 0.9}",
        "{suite: ./gate-suite, rule: max_truncated, threshold: 0.2}",
    )
    code, out, _ = env.gate(pol, cand, base)
    assert code == 1, out
    assert line_of(out, "category at_least").startswith("PASS")  # the metric alone would pass it
    line = line_of(out, "max_truncated(0.2)")
    assert line.startswith("FAIL  gate-suite:health.truncated max_truncated(0.2)")
    assert "60 of 60 outputs (100%) ended at the length limit > 0.2 (baseline 0%)" in line
    assert "rate=1.000 baseline=0.000 n=60" in line
    lines = out.splitlines()
    i = next(k for k, x in enumerate(lines) if x.startswith("verdict: FAIL  1 of 2"))
    assert lines[i + 1].startswith(f"warning: gate-suite: candidate run {cand}: 60 of 60 outputs (100%)")
    # a candidate that stops in time passes the same rule
    code, out, _ = env.gate(pol, base, base)
    assert code == 0 and line_of(out, "max_truncated").startswith("PASS")
    assert "warning:" not in out


def test_pass_verdict_still_warns_about_truncation_in_every_format(env: Env) -> None:
    cand = env.run("cand", "\n" + RAMBLE)
    pol = env.policy("{suite: ./gate-suite, metric: category, rule: min_samples, min: 10}")
    code, out, _ = env.gate(pol, cand)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("PASS") and lines[1].startswith("verdict: PASS")
    assert "ended at the length limit" in lines[2] and lines[2].startswith("warning: gate-suite:")
    v = Verdict.model_validate(env.store.get_records("verdict")[-1]["body"])
    assert v.passed and len(v.warnings) == 1 and "60 of 60 outputs (100%)" in v.warnings[0]
    body = v.model_dump(mode="json")
    md = render_markdown("verdict", body)
    assert "**PASS**" in md and "> ⚠️ gate-suite: candidate run" in md
    assert md.index("ended at the length limit") < md.index("| rule")  # under the verdict line
    page = render_html("verdict", body)
    assert '<div class="warn">⚠ gate-suite: candidate run' in page and "ended at the length limit" in page
    assert page.index("ended at the length limit") < page.index("<h2>Rules</h2>")


def test_max_repetition_reads_the_larger_rate_or_the_measure(env: Env) -> None:
    cand = env.run("cand", "\nx y\nx y\nx y")  # 4 lines, 2 repeats; 1 of 5 word 4-grams repeats
    h = env.store.get_run(cand).health
    assert h["truncated"] == 0.0 and h["repeated_lines"] == pytest.approx(0.5)
    assert h["repeated_ngrams"] == pytest.approx(0.2)
    pol = env.policy(
        "{suite: ./gate-suite, rule: max_repetition, threshold: 0.4}",
        "{suite: ./gate-suite, rule: max_repetition, threshold: 0.25, measure: repeated_ngrams}",
    )
    code, out, _ = env.gate(pol, cand)
    assert code == 1
    line = line_of(out, "max_repetition(0.4)")
    assert line.startswith("FAIL  gate-suite:health.repetition")
    assert "the larger of repeated lines 50% and repeated 4-grams 20% > 0.4" in line
    line = line_of(out, "measure=repeated_ngrams")
    assert line.startswith("PASS  gate-suite:health.repeated_ngrams")
    assert "max_repetition: repeated 4-grams 20% <= 0.25" in line


def test_run_without_health_fails_closed(env: Env) -> None:
    cand = env.run("cand")
    with env.store.engine.begin() as conn:  # a run recorded before output health existed
        record = json.loads(conn.execute(sa.select(runs.c.record).where(runs.c.id == cand)).scalar_one())
        record.pop("health")
        conn.execute(sa.update(runs).where(runs.c.id == cand).values(record=json.dumps(record)))
    assert env.store.get_run(cand).health == {}
    pol = load_policy(env.policy("{suite: ./gate-suite, rule: max_truncated, threshold: 0.5}"))
    v = evaluate_gate(env.store, pol, {"gate-suite": cand}, {})
    assert not v.passed and v.exit_code == 1 and v.warnings == []
    assert "no output health recorded" in v.rules[0].reason
    assert "re-run to record output health" in v.rules[0].reason


def test_too_few_outputs_fail_a_health_rule(env: Env) -> None:
    cand = env.run("cand")
    pol = load_policy(env.policy("{suite: ./gate-suite, rule: max_truncated, threshold: 0.5}", name="p.yaml"))
    pol.min_samples = 61
    r = evaluate_gate(env.store, pol, {"gate-suite": cand}, {}).rules[0]
    assert not r.passed and "too few samples: n=60 generated outputs < policy min_samples 61" in r.reason


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        ("{suite: s, rule: max_truncated}", "rule max_truncated needs 'threshold'"),
        ("{suite: s, rule: max_truncated, threshold: 1.5}", "is not a rate in [0, 1]"),
        ("{suite: s, rule: max_repetition, threshold: -0.1}", "is not a rate in [0, 1]"),
        ("{suite: s, metric: m, rule: max_truncated, threshold: 0.1}", "takes no 'metric'"),
        ("{suite: s, rule: max_truncated, threshold: 0.1, measure: repeated_lines}", "does not apply"),
        ("{suite: s, rule: max_repetition, threshold: 0.1, measure: words}", "rules.1.measure"),
        ("{suite: s, rule: improves}", "rule improves needs 'metric'"),
    ],
)
def test_malformed_health_rules_name_file_and_line(env: Env, rule: str, needle: str) -> None:
    pol = env.policy("{suite: s, rule: max_truncated, threshold: 0.1}", rule)
    code, out, err = env.gate(pol, "whatever", "x")
    assert code == 2 and out == ""
    assert needle in err and f"{pol}:4: " in err, err
    with pytest.raises(InputError):
        load_policy(pol)


def test_readme_gate_example_and_demo_policy_load(tmp_path: Path) -> None:
    """The README's gate.yaml (with the health rules) and the demo's policy are valid policies."""
    import re

    from harness.demo import DEMO_POLICY

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if b.startswith("# gate.yaml"))
    path = tmp_path / "gate.yaml"
    path.write_text(block, encoding="utf-8")
    rules = [r.describe() for r in load_policy(path).rules]
    assert rules[-2:] == ["max_truncated(0.1)", "max_repetition(0.2)"]
    assert load_policy(DEMO_POLICY).rules[0].rule == "improves"
