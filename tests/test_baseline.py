"""Best-prompt baseline: variants scored on dev only; the test split is read once, at the end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import harness.runner as runner_mod
import harness.suite as suite_mod
from harness import Store, load_suite, parse_spec
from harness.baseline import load_variants, select_baseline
from harness.cli.main import main as cli

ROOT = Path(__file__).resolve().parent.parent


def _suite_copy(tmp_path: Path, n: int = 12) -> Path:
    """A small copy of ticket-triage (n items per split) with a mock script that answers correctly
    only when the prompt carries few-shot examples, so variants really differ."""
    dst = tmp_path / "tt"
    shutil.copytree(ROOT / "suites" / "ticket-triage", dst, ignore=shutil.ignore_patterns("data"))
    (dst / "data").mkdir()
    for split in ("train", "dev", "test"):
        lines = (ROOT / "suites/ticket-triage/data" / f"{split}.jsonl").read_text().splitlines()[:n]
        (dst / "data" / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return dst


class FewShotAwareMock:
    """Answers with the reference when the prompt has >= 3 few-shot turns, else garbage."""

    def __init__(self, spec, references):
        self.spec = spec
        self.refs = references
        self.seen_prompts: list[list[dict]] = []

    def generate(self, prompts, config, progress=None):
        from harness.types import Completion

        out = []
        for p in prompts:
            self.seen_prompts.append(p)
            user = p[-1]["content"]
            shots = sum(1 for m in p if m["role"] == "assistant")
            out.append(Completion(text=self.refs[user] if shots >= 3 else "no idea", prompt_tokens=len(p)))
            if progress:
                progress(1)
        return out


@pytest.fixture
def refs():
    out = {}
    for split in ("train", "dev", "test"):
        for line in (ROOT / "suites/ticket-triage/data" / f"{split}.jsonl").read_text().splitlines():
            row = json.loads(line)
            out[row["messages"][0]["content"]] = row["messages"][1]["content"]
    return out


def test_selection_never_reads_test_split(tmp_path, monkeypatch, refs):
    reads: list[str] = []
    real = suite_mod.load_split

    def spy(suite, split, limit=None):
        reads.append(split)
        return real(suite, split, limit)

    monkeypatch.setattr(suite_mod, "load_split", spy)
    monkeypatch.setattr(runner_mod, "load_split", spy)
    dst = _suite_copy(tmp_path)
    (dst / "data" / "test.jsonl").unlink()  # selection must not need it at all
    suite = load_suite(dst)
    spec = parse_spec("mock:echo")
    backend = FewShotAwareMock(spec, refs)
    store = Store(workspace=tmp_path / "ws")
    res = select_baseline(suite, spec, store=store, backend=backend, run_test=False, progress=False)
    assert "test" not in reads
    assert set(reads) <= {"dev", "train"}
    # every prompt the model saw was a dev item (plus train few-shot turns)
    test_inputs = {
        json.loads(x)["messages"][0]["content"]
        for x in (ROOT / "suites/ticket-triage/data/test.jsonl").read_text().splitlines()
    }
    for p in backend.seen_prompts:
        assert not any(m["content"] in test_inputs for m in p if m["role"] == "user")
    # the 3- and 5-shot variants answer correctly; ties go to the cheaper prompt (3-shot)
    by_name = {v.name: v for v in res.variants}
    assert by_name["instruct-0shot"].dev_value == 0.0
    assert by_name["instruct-5shot"].dev_value == 1.0
    assert res.chosen == "instruct-3shot"
    assert res.test_run_id is None
    stored = store.get_records("baseline")
    assert stored and stored[-1]["body"]["chosen"] == "instruct-3shot"
    assert len(stored[-1]["body"]["variants"]) == 4


def test_test_split_read_once_after_selection(tmp_path, monkeypatch, refs):
    reads: list[str] = []
    real = suite_mod.load_split

    def spy(suite, split, limit=None):
        reads.append(split)
        return real(suite, split, limit)

    monkeypatch.setattr(suite_mod, "load_split", spy)
    monkeypatch.setattr(runner_mod, "load_split", spy)
    suite = load_suite(_suite_copy(tmp_path))
    spec = parse_spec("mock:echo")
    store = Store(workspace=tmp_path / "ws")
    res = select_baseline(suite, spec, store=store, backend=FewShotAwareMock(spec, refs), progress=False)
    assert reads.count("test") == 1
    last_dev = max(i for i, r in enumerate(reads) if r == "dev")
    assert reads.index("test") > last_dev  # read only after every dev run finished
    rec = store.get_run(res.test_run_id)
    assert rec.split == "test" and rec.prompt.name == res.chosen
    assert rec.metrics["category"].value == 1.0


def test_variants_file_grid_and_errors(tmp_path):
    vf = tmp_path / "variants.yaml"
    vf.write_text(
        "metric: priority\ngrid:\n  systems:\n    plain: Classify.\n    json: Answer in JSON.\n  fewshot_k: [0, 1, 3]\n"
    )
    v = load_variants(vf)
    names = [p.name for p in v.expand()]
    assert names == ["plain-0shot", "plain-1shot", "plain-3shot", "json-0shot", "json-1shot", "json-3shot"]
    assert v.metric == "priority"
    bad = tmp_path / "bad.yaml"
    bad.write_text("metric: priority\ngrdi:\n  systems: {a: b}\n")
    code = cli(
        [
            "--workspace",
            str(tmp_path / "ws"),
            "baseline",
            "ticket-triage",
            "--model",
            "mock:echo",
            "--variants",
            str(bad),
        ]
    )
    assert code == 2


def test_fewshot_from_eval_split_refused(tmp_path):
    vf = tmp_path / "v.yaml"
    vf.write_text("variants:\n  - name: leaky\n    fewshot: {k: 2, split: test}\n")
    ws = tmp_path / "ws"
    code = cli(
        ["--workspace", str(ws), "baseline", "ticket-triage", "--model", "mock:echo", "--variants", str(vf)]
    )
    assert code == 2
    assert Store(workspace=ws).counts()["runs"] == 0


def test_baseline_cli_end_to_end(tmp_path, capsys):
    ws = tmp_path / "ws"
    code = cli(
        [
            "--workspace",
            str(ws),
            "baseline",
            "ticket-triage",
            "--model",
            "mock:echo",
            "--dev-limit",
            "5",
            "--test-limit",
            "5",
            "--no-progress",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "chosen:" in out and "baseline (" in out
    runs = Store(workspace=ws).list_runs()
    assert sorted(r.split for r in runs) == ["dev"] * 4 + ["test"]


# --------------------------------------------------------------------------- the estimate before a search


def test_estimate_counts_variants_by_dev_items_at_a_stated_default(tmp_path, monkeypatch):
    import harness.baseline as baseline_mod
    from harness.baseline import DEFAULT_ITEM_S, estimate_baseline
    from reports.console.baseline import estimate_lines

    reads: list[str] = []
    real = suite_mod.load_split

    def spy(suite, split, limit=None):
        reads.append(split)
        return real(suite, split, limit)

    monkeypatch.setattr(baseline_mod, "load_split", spy)
    dst = _suite_copy(tmp_path)
    (dst / "data" / "test.jsonl").unlink()  # the estimate never reads test
    suite = load_suite(dst)
    store = Store(workspace=tmp_path / "ws")
    est = estimate_baseline(suite, parse_spec("mock:echo"), store=store, dev_limit=5)
    assert reads == ["dev"]
    assert (est.variants, est.dev_items, est.selection_items) == (4, 5, 20)
    assert est.measured_from == 0 and est.per_item_s == DEFAULT_ITEM_S["mock"]
    assert est.suggested_dev_limit() is None
    text = "\n".join(estimate_lines(est))
    assert "estimate: 4 variant(s) x 5 dev item(s) (--dev-limit 5) = 20 generation(s)" in text
    assert "a conservative default for mock models" in text and "hint:" not in text
    # an hf model without timings in the store: the default is stated
    hf = parse_spec("mock:echo").model_copy(update={"backend": "hf", "raw": "hf:some-model"})
    est = estimate_baseline(suite, hf, store=store, run_test=False)
    assert est.per_item_s == DEFAULT_ITEM_S["hf"] == 5.0 and est.selection_s == 4 * 12 * 5.0
    assert est.suggested_dev_limit() is None  # 4 min
    text = "\n".join(estimate_lines(est))
    assert "= 48 generation(s), about 4 min at 5 s per item" in text
    assert "conservative default for hf models (this store has no timed generation of hf:some-model" in text
    assert "test" not in text


def test_estimate_uses_this_models_recent_times_from_the_generation_cache(tmp_path):
    from harness.baseline import estimate_baseline
    from harness.types import Completion, stable_hash
    from reports.console.baseline import estimate_lines

    suite = load_suite(_suite_copy(tmp_path))
    store = Store(workspace=tmp_path / "ws")
    script = tmp_path / "slow.yaml"
    script.write_text("default: x\ndelay_s: 0.02\n")
    slow = parse_spec(f"mock:{script}")
    run_suite = runner_mod.run_suite
    run_suite(suite, slow, store=store, split="dev", limit=3, progress=False)
    est = estimate_baseline(suite, slow, store=store)
    assert est.measured_from == 3 and 0.02 <= est.per_item_s < 1
    assert "median of the 3 most recent cached generation(s)" in "\n".join(estimate_lines(est))
    # another model's timings are not used; a batch's time is divided by its size
    other = parse_spec("mock:echo")
    ident = stable_hash(other.identity)
    store.put_generations(
        [
            (f"k{i}", ident, "p", Completion(text="t", latency_s=240.0, raw={"batch_size": 8}))
            for i in range(5)
        ]
    )
    est = estimate_baseline(suite, other, store=store, test_limit=10)
    assert est.measured_from == 5 and est.per_item_s == 30.0
    assert est.selection_s == 4 * 12 * 30.0 and est.suggested_dev_limit() == 2
    text = "\n".join(estimate_lines(est))
    assert "about 24 min at 30 s per item" in text and "test: 10 item(s), about 5 min" in text
    assert "`--dev-limit 2`" in text


def test_baseline_cli_prints_the_estimate_before_starting(tmp_path, capsys):
    ws = tmp_path / "ws"
    code = cli(
        [
            "--workspace",
            str(ws),
            "baseline",
            "ticket-triage",
            "--model",
            "mock:echo",
            "--dev-limit",
            "5",
            "--no-test",
            "--no-progress",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("estimate: 4 variant(s) x 5 dev item(s) (--dev-limit 5) = 20 generation(s)")
    assert out.index("estimate:") < out.index("baseline selection on dev")
