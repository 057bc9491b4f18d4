"""Large stored runs (issue 8, part 6), kept light: two runs of 20,000 samples built through the
Store (tests/benchmarks/bench_scale.py builds 100,000 and times compare); compare works on them,
`iter_results` never fetches more than its batch, and compare reads the texts (completions) of the
top-k samples only."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent / "benchmarks"))

from bench_scale import build  # noqa: E402

from harness.compare import compare_runs  # noqa: E402
from harness.store import Store  # noqa: E402

N = 20_000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, str, str]:
    d = tmp_path_factory.mktemp("scale")
    run_a, run_b = build(d, N)
    return Store(f"sqlite:///{d / 'tunebench.db'}"), run_a, run_b


def _spy_sql(store: Store) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", before)
    return seen


def test_compare_on_large_runs(big: tuple[Store, str, str]) -> None:
    store, run_a, run_b = big
    cmp = compare_runs(store, run_a, run_b, n_boot=200, top_k=3, save=False)
    assert cmp.n_samples == N
    cat = cmp.metric("category")
    assert cat.n == N and cat.binary and cat.p_method == "mcnemar"
    assert cat.ci_low is not None and cat.ci_high is not None and cat.ci_low < cat.delta < cat.ci_high
    f1 = cmp.metric("category_cls.macro_f1")
    assert f1.kind == "corpus" and f1.n == N and f1.ci_low is not None and f1.ci_low < f1.delta < f1.ci_high
    assert f1.a == pytest.approx(store.get_run(run_a).metrics["category_cls.macro_f1"].value)
    assert len(cmp.regressions) == 3 and len(cmp.improvements) == 3
    assert all(d.output_a and d.output_b and d.input for d in cmp.regressions + cmp.improvements)


def test_iter_results_fetches_at_most_its_batch(big: tuple[Store, str, str]) -> None:
    store, run_a, _ = big
    seen = _spy_sql(store)
    count = sum(1 for _ in store.iter_results(run_a, batch=1000))
    assert count == N
    sample_queries = [(s, p) for s, p in seen if "FROM samples" in s and "samples.completion" in s]
    assert len(sample_queries) == N // 1000 + 1  # the last one finds nothing
    for statement, params in sample_queries:
        assert "LIMIT" in statement
        assert 1000 in tuple(params)  # the batch is the query's limit


def test_compare_reads_texts_of_top_k_samples_only(
    big: tuple[Store, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, run_a, run_b = big
    yielded: list[str] = []
    real = Store.iter_results

    def counting(self: Store, run_id: str, batch: int = 1000, sample_ids: Any = None) -> Any:
        for r in real(self, run_id, batch, sample_ids):
            yielded.append(r.sample_id)
            yield r

    monkeypatch.setattr(Store, "iter_results", counting)
    seen = _spy_sql(store)
    top_k = 4
    cmp = compare_runs(store, run_a, run_b, n_boot=100, top_k=top_k, save=False)
    picked = {d.sample_id for d in cmp.regressions + cmp.improvements}
    assert 0 < len(picked) <= 2 * top_k
    assert len(yielded) <= 2 * (2 * top_k) and set(yielded) == picked  # per run: the picked samples only
    # no other query touches the completion column (scores are read as light columns)
    completion_queries = [s for s, _ in seen if "completion" in s and "FROM samples" in s]
    assert len(completion_queries) <= 2 * 2  # one batch per run, plus the empty end-of-stream query
    assert json.dumps(cmp.model_dump(mode="json"))  # serializable as stored
