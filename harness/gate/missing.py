"""Missing data fails closed: a comparison rule fails when a sample that one run scored has no value
in the other (a generation or judge error, an unparseable output), because the comparison pairs only
the samples both runs scored and a candidate that errors on its hard items would look better.

Samples that neither run scored (a scorer limited to some task types, a sample both runs failed
alike) leave the pairing fair and are not counted. A metric whose failure value the runner already
applied never has a missing side, so its rules are unaffected.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..compare import MetricDelta
from ..store import Store
from ..types import RunRecord


def missing_sides(store: Store, md: MetricDelta, base: RunRecord, cand: RunRecord) -> tuple[int, int] | None:
    """(baseline missing, candidate missing): samples with a value of `md`'s metric on the other
    side only; None for a metric without per-sample values (a run-level count)."""
    if md.kind == "run":
        return None
    name = md.name
    na, nb = _run_n(base, name), _run_n(cand, name)
    if md.n == na == nb:  # the runs' own counts of scored samples: nothing dropped on one side only
        return 0, 0
    ids = store.sample_ids(base.id)
    cols_a, cols_b = store.score_values(base.id, ids), store.score_values(cand.id, ids)
    names = [name] if name in cols_a or name in cols_b else _scorer_columns(name, cols_a, cols_b)
    if not names:
        return None
    va, vb = _valued(names, cols_a, len(ids)), _valued(names, cols_b, len(ids))
    return int(np.count_nonzero(vb & ~va)), int(np.count_nonzero(va & ~vb))


def missing_reason(md: MetricDelta, base: RunRecord, cand: RunRecord, counts: tuple[int, int]) -> str:
    errs = [int(r.usage.get("errors", 0) or 0) for r in (base, cand)]
    gen = f"; generation errors in the runs: baseline {errs[0]}, candidate {errs[1]}" if any(errs) else ""
    return (
        f"missing data fails closed: baseline {counts[0]} errored/missing, candidate {counts[1]} "
        f"errored/missing (samples scored by one run only; the paired n={md.n} would hide them){gen}"
    )


def _run_n(run: RunRecord, name: str) -> int | None:
    m = run.metrics.get(name)
    return None if m is None else m.n


def _scorer_columns(name: str, *cols: dict[str, NDArray[np.float64]]) -> list[str]:
    prefix = name.split(".", 1)[0]
    found = {c for side in cols for c in side if c == prefix or c.startswith(prefix + ".")}
    return sorted(found)


def _valued(names: list[str], cols: dict[str, NDArray[np.float64]], n: int) -> NDArray[np.bool_]:
    """Samples with a value in every one of `names` (a corpus scorer's rows are used only whole)."""
    ok = np.ones(n, dtype=bool)
    for c in names:
        col = cols.get(c)
        ok &= np.zeros(n, dtype=bool) if col is None else ~np.isnan(col)
    return ok
