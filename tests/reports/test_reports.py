"""Reports (issue 4): Markdown, HTML and JSON renderings of runs, comparisons and verdicts.

Two mock models answer a 12-sample user suite (conftest's `make_suite`). A gets samples 0-7 right,
B samples 2-11; B's answer to sample 0 is `<script>alert(1)</script> | not json` and to sample 1
a JSON object whose category holds a pipe and backticks, so the worst regressions carry text that
must be escaped in every format.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from harness.cli.main import main as cli
from harness.compare import compare_runs
from harness.models import parse_spec
from harness.runner import run_suite
from harness.store import Store
from harness.suite import load_suite
from harness.types import PromptConfig
from reports import load_schema, load_target, render, validate, write_atomic
from reports.html import word_diff
from reports.markdown import MAX_BYTES, cell
from reports.svg import COLOURS, PlotRow, forest_plot, forest_plots, nice_step

N = 12
LABELS = ["billing", "shipping", "account", "refund", "technical"]
SCRIPT = "<script>alert(1)</script> | not json"
SCRIPT_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
PIPE_ANSWER = json.dumps({"category": "bill|ing `x`"})
SUITE_YAML = """\
name: report-suite
version: "0.2.0"
description: reports tests
dataset:
  path: data/{split}.jsonl
  splits: [train, dev, test]
expects_json: true
primary_metric: exact
prompt:
  name: plain
  system: Reply with a JSON object holding the category of the ticket.
  template: "{input}"
generation:
  max_new_tokens: 32
scorers:
  - {name: exact, type: exact_match}
  - {name: json_valid, type: json_valid}
  - {name: category, type: json_field_match, args: {field: category}}
"""


def gold(i: int) -> str:
    return json.dumps({"category": LABELS[i % len(LABELS)]})


def a_answer(i: int) -> str:
    return gold(i) if i < 8 else json.dumps({"category": "other"})


def b_answer(i: int) -> str:
    return {0: SCRIPT, 1: PIPE_ANSWER}.get(i, gold(i))


@dataclass
class Env:
    root: Path
    url: str
    store: Store
    a: str
    b: str
    cmp_id: str


def _script(path: Path, answer: Any) -> str:
    rules = [{"contains": f"ticket test {i}:", "reply": answer(i)} for i in range(N)]
    path.write_text(yaml.safe_dump({"default": "?", "rules": rules}))
    return f"mock:{path}"


def write_suite(root: Path) -> Path:
    """Like conftest's make_suite (chat rows "ticket SPLIT i: a question about LABEL"), module-scoped."""
    (root / "data").mkdir(parents=True)
    (root / "suite.yaml").write_text(SUITE_YAML)
    for split in ("train", "dev", "test"):
        rows = [
            {
                "id": f"{split}-{i:03d}",
                "messages": [
                    {"role": "user", "content": f"ticket {split} {i}: a question about {LABELS[i % 5]}"},
                    {"role": "assistant", "content": gold(i)},
                ],
            }
            for i in range(N)
        ]
        (root / "data" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNEBENCH_HOME", str(root / "ws"))
        suite_dir = write_suite(root / "report-suite")
        url = f"sqlite:///{root / 'ws' / 'tunebench.db'}"
        store = Store(url)
        suite = load_suite(suite_dir)
        a = run_suite(suite, parse_spec(_script(root / "a.yaml", a_answer)), store=store, progress=False)
        b = run_suite(
            suite,
            parse_spec(_script(root / "b.yaml", b_answer)),
            store=store,
            progress=False,
            prompt=PromptConfig(name="short", template="{input}"),
        )
        cmp = compare_runs(store, a.id, b.id, n_boot=200, top_k=5, suite=suite_dir)
        yield Env(root, url, store, a.id, b.id, cmp.id)


# --------------------------------------------------------------------------- helpers


def outside_fences(md: str) -> str:
    """Markdown without its fenced code blocks (whose content GitHub shows as literal text)."""
    out, fence = [], None
    for line in md.splitlines():
        m = re.match(r"^(`{3,})", line)
        if fence is None and m:
            fence = m.group(1)
            continue
        if fence is not None:
            if line.strip() == fence:
                fence = None
            continue
        out.append(line)
    return "\n".join(out)


def assert_self_contained(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<(link|img|iframe|object|embed)\b", html, re.I)
    assert "@import" not in html and "url(" not in html
    assert "<style>" in html and "<svg" in html


def assert_no_raw_script(html: str) -> None:
    assert "<script" not in html.lower()
    assert "</script" not in html.lower()


# --------------------------------------------------------------------------- runs


def test_run_report_in_every_format(env: Env) -> None:
    kind, body = load_target(env.store, env.b[:-1])  # a unique prefix
    assert kind == "run" and body["id"] == env.b
    assert body["rank_metric"] == "exact"
    worst = body["worst_samples"]
    assert [s["sample_id"] for s in worst] == ["test-000", "test-001"]
    assert worst[0]["output"] == SCRIPT

    md = render(kind, body, "md")
    assert "| metric | value | 95% CI | n |" in md
    assert re.search(r"\| exact \| 0\.833 \| \[0\.\d{3}, 1\.000\] \| 12 \|", md)
    assert "<details><summary>Worst 2 samples by exact</summary>" in md
    assert "<script" not in outside_fences(md)

    html = render(kind, body, "html")
    assert_self_contained(html)
    assert_no_raw_script(html)
    assert SCRIPT_ESCAPED in html
    assert "Metrics with 95% CIs" in html and "Worst samples (by exact)" in html
    assert html.count('<g class="row') == len(body["metrics"])

    doc = json.loads(render(kind, body, "json"))
    validate(doc)
    assert doc["schema"] == "tunebench.report/v1" and doc["kind"] == "run"
    assert doc["run"]["id"] == env.b and "worst_samples" not in doc["run"]
    assert doc["worst_samples"][0]["output"] == SCRIPT


def test_render_with_store_adds_the_extras(env: Env) -> None:
    body = env.store.get_run(env.a).model_dump(mode="json")
    plain = render("run", body, "html")
    assert "Worst samples" not in plain  # nothing to show without the store
    full = render("run", body, "html", store=env.store)
    assert "Worst samples (by exact)" in full and "test-008" in full


# --------------------------------------------------------------------------- comparisons


def test_comparison_markdown(env: Env) -> None:
    kind, body = load_target(env.store, env.cmp_id)
    assert kind == "comparison"
    md = render(kind, body, "md")
    assert len(md.encode()) < MAX_BYTES
    assert "| metric | better | A | B | Δ (B−A) | 95% CI | p | W/T/L | n | MDE |  |" in md
    row = next(line for line in md.splitlines() if line.startswith("| exact |"))
    assert "| higher | 0.667 | 0.833 | +0.167" in row and "mcn" in row and "4/6/2" in row
    assert row.count("|") == 12  # 11 cells, no stray pipe
    assert "<details><summary>Top 2 regressions by exact</summary>" in md
    assert "<details><summary>Top 4 improvements by exact</summary>" in md
    assert SCRIPT in md  # shown verbatim, but only inside a code block
    assert "<script" not in outside_fences(md)
    assert "| A (baseline) |" in md and "report-suite@0.2.0+" in md


def test_comparison_html(env: Env) -> None:
    kind, body = load_target(env.store, env.cmp_id)
    html = render(kind, body, "html")
    assert_self_contained(html)
    assert_no_raw_script(html)
    assert SCRIPT_ESCAPED in html
    assert "bill|ing `x`" in html  # pipes and backticks need no escaping in HTML
    # header: what was compared
    for text in ("report-suite@0.2.0+", body["model_a"], body["model_b"], "12 samples", body["created_at"]):
        assert text in html
    # forest plot: one row per metric, a zero line, the comparison's colours
    assert html.count('<g class="row') == len(body["metrics"])
    assert 'class="zero"' in html
    assert COLOURS["inconclusive"] in html or COLOURS["better"] in html
    assert "Serving cost" in html and "prompt tokens / request" in html
    # side-by-side diff of the worst regression: A's JSON deleted, B's script inserted (escaped)
    assert html.index("Worst regressions") < html.index("test-000")
    assert "<del>" in html and "<ins>" in html
    assert re.search(r"<ins>[^<]*&lt;script&gt;", html)


def test_comparison_json_validates(env: Env) -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())
    kind, body = load_target(env.store, env.cmp_id)
    doc = json.loads(render(kind, body, "json"))
    validate(doc)
    assert doc["comparison"]["id"] == env.cmp_id
    assert doc["comparison"]["regressions"][0]["output_b"] == SCRIPT
    s = doc["summary"]
    names = {m["name"] for m in doc["comparison"]["metrics"]}
    assert set(s["better"] + s["worse"] + s["inconclusive"] + s["no_ci"]) == names
    bad = copy.deepcopy(doc)
    bad["schema"] = "tunebench.report/v0"
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)
    bad = copy.deepcopy(doc)
    del bad["comparison"]
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)


def test_markdown_stays_under_the_size_cap(env: Env) -> None:
    _, body = load_target(env.store, env.cmp_id)
    big = copy.deepcopy(body)
    big["regressions"] = [dict(big["regressions"][0], output_a="x" * 40_000, output_b="y" * 40_000)] * 10
    md = render("comparison", big, "md")
    assert len(md.encode()) <= MAX_BYTES
    assert "| exact |" in md  # the tables survive; the texts are clipped


def test_markdown_cells_escape_pipes_and_backticks() -> None:
    assert cell("a|b`c`") == r"a\|b\`c\`"
    assert cell("<b>x</b>\nnext") == "&lt;b&gt;x&lt;/b&gt; ⏎ next"
    assert cell("x" * 500, limit=10) == "x" * 9 + "…"


# --------------------------------------------------------------------------- verdicts


def _verdict(env: Env, passed: bool) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "id": f"verdict-{'pass' if passed else 'fail'}",
        "created_at": "2026-11-23T00:00:00+00:00",
        "policy": {"name": "deploy", "path": "gate.yaml", "sha256": "ab" * 32},
        "candidate": "mock:b.yaml",
        "baseline": "mock:a.yaml",
        "runs": {"report-suite": {"baseline": env.a, "candidate": env.b}},
        "comparisons": {"report-suite": env.cmp_id},
        "rules": [
            {
                "rule": "non_inferior(margin=0.05)",
                "suite": "report-suite",
                "metric": "exact",
                "kind": "non_inferior",
                "passed": True,
                "reason": "CI low -0.083 >= -0.05 margin... ok",
                "value": 0.833,
                "baseline_value": 0.667,
                "delta": 0.167,
                "ci_low": 0.0,
                "ci_high": 0.333,
                "ci_level": 0.95,
                "threshold": -0.05,
                "p_value": 0.69,
                "p_adjusted": 0.69,
                "n": 12,
                "line": 3,
                "test_level": 0.05,
                "mde": 0.3,
                "warnings": ["n=12 cannot show non-inferiority within 0.05 at alpha 0.05 <i>"],
            },
            {
                "rule": "at_least(0.9)",
                "suite": "report-suite",
                "metric": "json_valid",
                "kind": "at_least",
                "passed": passed,
                "reason": "json_valid 0.833 < 0.9: <script>alert(1)</script> | fails closed",
                "value": 0.833,
                "threshold": 0.9,
                "n": 12,
                "line": 5,
            },
        ],
        "notes": ["holm correction over 1 rule"],
        "passed": passed,
        "exit_code": 0 if passed else 1,
    }


def test_verdict_reports(env: Env) -> None:
    env.store.put_record("verdict", "verdict-fail", _verdict(env, passed=False))
    kind, body = load_target(env.store, "verdict-fail")
    assert kind == "verdict" and body["comparison_bodies"]["report-suite"]["id"] == env.cmp_id

    md = render(kind, body, "md")
    assert md.startswith("## ❌ tunebench gate: **FAIL**")
    assert "1/2 rules passed" in md
    assert "| ✅ | non\\_inferior(margin=0.05) |" in md
    assert "CI low -0.083 &gt;= -0.05 margin... ok" in md
    assert r"&lt;script&gt;alert(1)&lt;/script&gt; \| fails closed" in md  # escaped cell
    assert "<script" not in outside_fences(md)
    assert "| exact | 0.667 | 0.833 |" in md  # the comparison's metrics table is embedded
    assert "⚠ n=12 cannot show non-inferiority within 0.05 at alpha 0.05 &lt;i&gt;" in md  # rule warning

    html = render(kind, body, "html")
    assert_self_contained(html)
    assert_no_raw_script(html)
    assert 'class="banner fail"' in html and "FAIL" in html
    assert "CI low -0.083 &gt;= -0.05 margin... ok" in html
    assert f"json_valid 0.833 &lt; 0.9: {SCRIPT_ESCAPED} | fails closed" in html
    assert "line 5" in html and "holm correction over 1 rule" in html
    assert '<div class="note">⚠ n=12 cannot show non-inferiority within 0.05 at alpha 0.05 &lt;i&gt;' in html
    assert html.count("<svg") >= 1 and "Worst regressions" in html  # the comparison, embedded

    doc = json.loads(render(kind, body, "json"))
    validate(doc)
    assert doc["summary"] == {
        "passed": False,
        "rules": 2,
        "failed_rules": ["report-suite:json_valid at_least(0.9)"],
    }
    assert doc["comparisons"]["report-suite"]["id"] == env.cmp_id
    assert "comparison_bodies" not in doc["verdict"]


def test_passing_verdict_and_missing_comparison(env: Env) -> None:
    body = _verdict(env, passed=True)
    body["comparisons"] = {"report-suite": "cmp-gone"}
    env.store.put_record("verdict", "verdict-pass", body)
    kind, got = load_target(env.store, "verdict-pass")
    md = render(kind, got, "md")
    assert md.startswith("## ✅ tunebench gate: **PASS**") and "2/2 rules passed" in md
    assert "cmp-gone" in md and "not in the store" in md
    html = render(kind, got, "html")
    assert 'class="banner pass"' in html and "not in the store" in html


def test_minimal_bodies_render() -> None:
    # bodies from older or newer writers: missing optional fields, NaN numbers
    bodies = {
        "run": {
            "id": "r1",
            "metrics": {"x": {"value": float("nan")}},
            "usage": {"latency_p50_s": float("nan")},
        },
        "comparison": {"id": "c1", "metrics": [{"name": "m", "delta": None}]},
        "verdict": {"id": "v1", "passed": True, "rules": [{"passed": True, "reason": "ok"}]},
    }
    for kind, body in bodies.items():
        for fmt in ("md", "html", "json"):
            out = render(kind, body, fmt)
            assert out
        doc = json.loads(render(kind, body, "json"))
        assert "NaN" not in json.dumps(doc)
    with pytest.raises(ValueError):
        render("run", {}, "pdf")
    with pytest.raises(ValueError):
        render("nope", {}, "md")


# --------------------------------------------------------------------------- SVG and diffs


def test_forest_plot_svg() -> None:
    rows = [
        PlotRow("up", 0.2, 0.1, 0.3, "better"),
        PlotRow("down", -0.2, -0.3, -0.1, "worse"),
        PlotRow("flat", 0.01, -0.05, 0.07, "inconclusive"),
        PlotRow("<b>&", 0.05, None, None, "no-ci"),
        PlotRow("gone", None),
    ]
    svg = forest_plot(rows, title="deltas")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('<g class="row') == 5
    for k in ("better", "worse", "inconclusive", "no-ci"):
        assert COLOURS[k] in svg
    assert 'class="zero"' in svg and "&lt;b&gt;&amp;" in svg and "<b>" not in svg
    assert ">-0.4<" in svg and ">+0.4<" in svg and ">0.0<" in svg  # ticks
    assert "no value" in svg
    assert "http://" not in svg and "http://" in forest_plot(rows, standalone=True)
    # metrics on other scales (perplexity) get their own axis
    plots = forest_plots(
        [PlotRow("acc", 0.1, 0.0, 0.2, "inconclusive"), PlotRow("ppl", -3.0, -5.0, -1.0, "better")]
    )
    assert len(plots) == 2
    assert nice_step(1.0) == 0.2 and nice_step(0.07) == 0.02 and nice_step(40) == 10


def test_word_diff_marks_and_escapes() -> None:
    a, b = word_diff('{"category": "billing"}', '{"category": "<x>"}')
    assert "<del>billing</del>" in a
    assert "<ins>&lt;x&gt;</ins>" in b
    assert a.startswith("{&quot;category&quot;: &quot;")
    a, b = word_diff("same", "same")
    assert (a, b) == ("same", "same")


# --------------------------------------------------------------------------- CLI


def test_cli_report_writes_files(env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sub" / "report.html"
    assert cli(["--store", env.url, "report", env.cmp_id, "--format", "html", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    html = out.read_text(encoding="utf-8")
    assert_self_contained(html)
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temporary file left

    js = tmp_path / "r.json"  # format from the suffix
    assert cli(["--store", env.url, "report", env.b, "--out", str(js)]) == 0
    validate(json.loads(js.read_text()))
    capsys.readouterr()

    assert cli(["--store", env.url, "report", env.cmp_id, "--out", "-"]) == 0
    assert capsys.readouterr().out.startswith("### Comparison:")

    ws = tmp_path / "ws"
    assert cli(["--workspace", str(ws), "--store", env.url, "report", env.a, "--format", "md"]) == 0
    printed = Path(capsys.readouterr().out.strip())
    assert printed == ws.resolve() / "reports" / f"run-{env.a}.md" and printed.is_file()


def test_cli_report_unknown_or_ambiguous_ref(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.md"
    assert cli(["--store", env.url, "report", "no-such-id", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no run, comparison or verdict 'no-such-id'" in err and "hint:" in err
    assert not out.exists()
    common = env.a[: next(i for i, (x, y) in enumerate(zip(env.a, env.b, strict=False)) if x != y)]
    assert cli(["--store", env.url, "report", common, "--out", str(out)]) == 2
    assert "ambiguous" in capsys.readouterr().err and not out.exists()


def test_write_atomic_replaces(tmp_path: Path) -> None:
    p = write_atomic(tmp_path / "a.md", "one")
    write_atomic(p, "two")
    assert p.read_text() == "two" and [x.name for x in tmp_path.iterdir()] == ["a.md"]
    assert p.stat().st_mode & 0o044  # readable by others, as a plain write would make it (not 0600)


def test_better_or_worse_comes_from_the_stored_direction_not_the_name() -> None:
    from reports.common import comparison_summary, metric_significance, significance

    up = {"ci_low": 0.1, "ci_high": 0.3}  # B - A clearly above 0
    # a perplexity rising is worse; the same numbers on a higher-is-better metric are better
    assert metric_significance({"name": "ppl", **up, "higher_is_better": False}) == "worse"
    assert metric_significance({"name": "ppl", **up, "higher_is_better": True}) == "better"
    # a name that looks like a cost says nothing: "error_rate" declared higher-is-better rising is better
    assert metric_significance({"name": "error_rate", **up, "higher_is_better": True}) == "better"
    # the direction may come from the stored MetricInfo alone
    assert metric_significance({"name": "m", **up, "info": {"higher_is_better": False}}) == "worse"
    # nothing declares it: never better or worse
    assert metric_significance({"name": "ppl", **up}) == "differs"
    assert significance(-0.1, 0.2, False) == "inconclusive" and significance(None, 0.2, True) == "no-ci"
    summ = comparison_summary(
        {"metrics": [{"name": "ppl", **up, "higher_is_better": False}, {"name": "acc", **up}]}
    )
    assert summ["worse"] == ["ppl"] and summ["differs"] == ["acc"] and summ["better"] == []


def test_markdown_usage_line_says_batch_time_where_batches_were_timed() -> None:
    usage = {"prompt_tokens_mean": 12.0, "latency_p50_s": 116.0, "latency_p95_s": 120.0}
    single = render("run", {"id": "r1", "metrics": {}, "usage": usage}, "md")
    assert "latency p50" in single and "batch time" not in single
    batched = render("run", {"id": "r2", "metrics": {}, "usage": {**usage, "latency_is_batch": 1.0}}, "md")
    assert "batch time p50" in batched and "batch time p95" in batched and "latency p50" not in batched
