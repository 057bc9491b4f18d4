"""Terminal text for a raced baseline selection: one line per round, then each variant's coverage."""

from __future__ import annotations

from typing import Any

from harness.fmt import num


def racing_text(result: dict[str, Any]) -> str:
    """`result` is a stored baseline record body (BaselineResult as JSON) with a `racing` log."""
    lines = ["racing rounds:"]
    for r in result.get("racing") or []:
        dropped = ", ".join(r["dropped"]) or "none"
        vs = "; ".join(
            f"{name} {num(d[0])} [{num(d[1])}, {num(d[2])}]" for name, d in (r.get("vs_leader") or {}).items()
        )
        lines.append(
            f"  round {r['round']}: {r['n_items']} items, leader {r['leader']}, dropped {dropped}"
            + (f" (vs leader: {vs})" if vs else "")
        )
    for v in result.get("variants") or []:
        if v.get("dropped_round") is not None:
            lines.append(
                f"  {v['name']}: dropped in round {v['dropped_round']} after {v['n_evaluated']} items"
            )
    return "\n".join(lines)
