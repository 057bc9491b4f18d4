"""How two runs' per-sample values line up: score columns aligned with A's sample order, each
sample's state on each side (a value, errored, not applicable, no score), pairing by sample with
missing data failing closed, and which scorer a metric comes from.

Pairing (`pair`): a sample takes part in a metric unless neither side has a value or an error for it
(not applicable to the sample: it is left out, as in each run's own metric). A side without a value
takes the metric's failure value when it has one (a bounded per-sample metric: the bad end of its
range) and the reason is counted as "failed"; otherwise the sample is dropped from the pairing and
the reason is counted as "dropped" for that side. A side that is "not applicable" while the other
side has a value or an error is dropped too (it cannot be scored as a failure: the scorer said the
sample is not its business)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..scorers import BaseScorer
from ..store import Store
from ..store.compare import null_scores
from ..types import MetricInfo
from .records import MissingReason

Cols = dict[str, NDArray[np.float64]]
"""score name -> per-sample values aligned with A's sample order; NaN where missing or None."""

VALUE, ERRORED, NOT_APPLICABLE, ABSENT = 0, 1, 2, 3
"""A sample's state for one score name on one side."""
REASONS: dict[int, MissingReason] = {ERRORED: "errored", ABSENT: "missing", NOT_APPLICABLE: "not applicable"}


class RunScores:
    """One run's per-sample values (`Store.score_values`, aligned with the sample ids) and the
    state of each (`states`): NaN values are told apart by `harness.store.compare.null_scores`."""

    def __init__(self, store: Store, run_id: str, ids: Sequence[str]):
        self.ids = ids
        self.cols: Cols = store.score_values(run_id, ids)
        self._nulls = null_scores(store, run_id)
        self._pos: dict[str, int] | None = None
        self._states: dict[str, NDArray[np.int8]] = {}

    def values(self, name: str) -> NDArray[np.float64]:
        col = self.cols.get(name)
        return col if col is not None else np.full(len(self.ids), np.nan)

    def states(self, name: str) -> NDArray[np.int8]:
        if name not in self._states:
            st = np.where(np.isnan(self.values(name)), ABSENT, VALUE).astype(np.int8)
            nulls = self._nulls.get(name)
            if nulls:
                if self._pos is None:
                    self._pos = {sid: i for i, sid in enumerate(self.ids)}
                for sid, na in nulls.items():
                    i = self._pos.get(sid)
                    if i is not None:
                        st[i] = NOT_APPLICABLE if na else ERRORED
            self._states[name] = st
        return self._states[name]


@dataclass
class Paired:
    """The samples of one metric paired across A and B (see the module docstring). `kept` is a mask
    over the sample ids; `x`, `y` are A's and B's values on the kept samples (failure values
    substituted)."""

    kept: NDArray[np.bool_]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    n_not_applicable: int = 0
    failed: dict[str, dict[MissingReason, int]] = field(default_factory=dict)
    dropped: dict[str, dict[MissingReason, int]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.x.size)

    def counts(self) -> dict[str, object]:
        """The MetricDelta fields that say what was paired, failed and dropped."""
        return {
            "n_paired": self.n,
            "n_not_applicable": self.n_not_applicable,
            "n_failed_a": sum(self.failed.get("a", {}).values()),
            "n_failed_b": sum(self.failed.get("b", {}).values()),
            "n_dropped_a": sum(self.dropped.get("a", {}).values()),
            "n_dropped_b": sum(self.dropped.get("b", {}).values()),
            "failed": self.failed,
            "dropped": self.dropped,
        }

    def note(self) -> str:
        """What was left out, dropped or scored as a failure, in words."""
        bits = []
        if self.n_not_applicable:
            bits.append(
                f"{self.n_not_applicable} sample(s) without a value on A or B: not applicable to either, left out"
            )
        for what, table in (("dropped", self.dropped), ("scored as failures", self.failed)):
            for side in ("a", "b"):
                for reason, k in sorted(table.get(side, {}).items()):
                    bits.append(f"{k} sample(s) {reason} on {side.upper()} {what}")
        return "; ".join(bits)


def _reasons(mask: NDArray[np.bool_], states: NDArray[np.int8]) -> dict[MissingReason, int]:
    out: dict[MissingReason, int] = {}
    for code, reason in REASONS.items():
        k = int(np.count_nonzero(mask & (states == code)))
        if k:
            out[reason] = k
    return out


def pair_states(
    xa: NDArray[np.float64],
    xb: NDArray[np.float64],
    sa: NDArray[np.int8],
    sb: NDArray[np.int8],
    failure_value: float | None,
) -> Paired:
    """Pair per-sample values `xa`, `xb` with states `sa`, `sb` (see the module docstring)."""
    part = (sa <= ERRORED) | (sb <= ERRORED)
    lack_a, lack_b = part & (sa != VALUE), part & (sb != VALUE)
    fv = failure_value
    sub_a = lack_a & (sa != NOT_APPLICABLE) if fv is not None else np.zeros_like(part)
    sub_b = lack_b & (sb != NOT_APPLICABLE) if fv is not None else np.zeros_like(part)
    drop_a, drop_b = lack_a & ~sub_a, lack_b & ~sub_b
    kept = part & ~drop_a & ~drop_b
    x = np.where(sub_a, fv if fv is not None else np.nan, xa)[kept]
    y = np.where(sub_b, fv if fv is not None else np.nan, xb)[kept]
    failed = {s: r for s, r in (("a", _reasons(sub_a & kept, sa)), ("b", _reasons(sub_b & kept, sb))) if r}
    dropped = {s: r for s, r in (("a", _reasons(drop_a, sa)), ("b", _reasons(drop_b, sb))) if r}
    return Paired(kept, x, y, int(np.count_nonzero(~part)), failed, dropped)


def pair(name: str, ra: RunScores, rb: RunScores, info: MetricInfo | None) -> Paired:
    """Score `name` of A and B paired (failure values from `info`; None: no failure value)."""
    fv = info.failure_value if info is not None else None
    return pair_states(ra.values(name), rb.values(name), ra.states(name), rb.states(name), fv)


def win_tie_loss(
    info: MetricInfo | None, x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[int, int, int] | None:
    """(samples where B is better, equal, worse) in the metric's direction; None without one."""
    if info is None:
        return None
    d = (y - x) if info.higher_is_better else (x - y)
    wins, losses = int(np.count_nonzero(d > 1e-12)), int(np.count_nonzero(d < -1e-12))
    return wins, int(d.size) - wins - losses, losses


def names_in_order(cols: Cols) -> list[str]:
    """Score names ordered by the first sample that has a value (then by first appearance)."""
    n_first = {
        name: (int(np.argmax(~np.isnan(c))) if (~np.isnan(c)).any() else len(c), k)
        for k, (name, c) in enumerate(cols.items())
    }
    return sorted(cols, key=lambda name: n_first[name])


def prefix(name: str) -> str:
    return name.split(".", 1)[0]


def finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def scorer_for(metric: str, scorers: Sequence[BaseScorer]) -> BaseScorer | None:
    for sc in scorers:
        if metric == sc.name or metric.startswith(sc.name + "."):
            return sc
    return None
