"""The estimate `tunebench baseline` prints before it starts: how many generations the search is,
about how long it will take and on what that figure rests, and a `--dev-limit` when it is long."""

from __future__ import annotations

from harness.baseline import BaselineEstimate


def duration(seconds: float) -> str:
    """A rough human duration: "under a second", "40 s", "12 min", "2.5 h"."""
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _rate(s: float) -> str:
    return f"{s:.2g} s" if s < 10 else f"{s:.0f} s"


def estimate_lines(e: BaselineEstimate) -> list[str]:
    """The estimate, then on what it rests, then (when long) a `--dev-limit` suggestion."""
    limit = f" (--dev-limit {e.dev_limit})" if e.dev_limit else ""
    lines = [
        f"estimate: {e.variants} variant(s) x {e.dev_items} {e.dev_split} item(s){limit} = "
        f"{e.selection_items} generation(s), about {duration(e.selection_s)} at {_rate(e.per_item_s)} per item"
    ]
    if e.measured_from:
        lines.append(
            f"  per-item time: median of the {e.measured_from} most recent cached generation(s) of "
            f"{e.model} in this store"
        )
    else:
        lines.append(
            f"  per-item time: a conservative default for {e.backend} models (this store has no timed "
            f"generation of {e.model} yet)"
        )
    if e.run_test:
        if e.test_s is not None:
            lines.append(
                f"  then the chosen variant on test: {e.test_limit} item(s), about {duration(e.test_s)}"
            )
        else:
            lines.append("  then one run of the chosen variant on the test split, at the same rate per item")
    lines.append("  items already in the generation cache are not generated again, so a repeat is faster")
    n = e.suggested_dev_limit()
    if n is not None:
        lines.append(
            f"hint: that is more than about 5 minutes; `--dev-limit {n}` scores each variant on the "
            f"first {n} {e.dev_split} item(s) (about {duration(e.variants * n * e.per_item_s)})"
        )
    return lines
