"""Which direction is better for each metric of a comparison: read from both runs' declared
semantics (`harness.metrics.metric_info_for`), never guessed from a name or a value.

`fill_directions` gives a stored comparison body written before comparisons carried directions
(schema version 1) the `higher_is_better` of each metric from its runs, so reports and the
dashboard colour old comparisons the same way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InputError
from ..metrics import UnknownMetricError, metric_info_for
from ..store import Store
from ..types import MetricInfo, RunRecord, Suite


def metric_info_of_runs(
    a: RunRecord, b: RunRecord, name: str, suite: Suite | None, warnings: list[str]
) -> MetricInfo | None:
    """What metric `name` means, from both runs' declarations; None when nothing declares it, and
    None with a warning appended when A and B declare opposite directions (fail closed: no side is
    trusted over the other)."""
    got: list[MetricInfo | None] = []
    for rec in (a, b):
        try:
            got.append(metric_info_for(rec, name, suite))
        except UnknownMetricError:
            got.append(None)
    ia, ib = got
    if ia is not None and ib is not None and ia.higher_is_better != ib.higher_is_better:
        warnings.append(
            f"runs A and B declare opposite directions for {name}: it is compared without one "
            "(no W/T/L); re-run the older run so both record the suite's current semantics"
        )
        return None
    return ia if ia is not None else ib


def fill_directions(store: Store, body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a stored comparison body (JSON) in which every metric without a `higher_is_better`
    gets it from the runs' declarations, where they still exist and declare it (else it stays
    unset: readers then show the delta without calling it better or worse)."""
    out = dict(body)
    metrics = out.get("metrics")
    if not isinstance(metrics, list) or all(
        not isinstance(m, Mapping) or m.get("higher_is_better") is not None for m in metrics
    ):
        return out
    try:
        a, b = store.get_run(str(out.get("run_a"))), store.get_run(str(out.get("run_b")))
    except InputError:
        return out
    filled = []
    for m in metrics:
        if isinstance(m, Mapping) and m.get("higher_is_better") is None and m.get("name"):
            info = metric_info_of_runs(a, b, str(m["name"]), None, [])
            if info is not None:
                m = {**m, "higher_is_better": info.higher_is_better}
        filled.append(m)
    out["metrics"] = filled
    return out
