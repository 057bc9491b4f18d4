"""One run's usage and output-health lines, as `tunebench run` and `tunebench show` print them."""

from __future__ import annotations

from collections.abc import Mapping

from harness.fmt import num
from harness.health import health_warnings


def usage_line(usage: Mapping[str, float], latency_label: str = "latency", errors: bool = False) -> str:
    """Tokens per request and latency percentiles; `latency_label` is "batch time" where the
    backend timed batches, not requests (harness.inspect_run.latency_label)."""
    u = usage
    line = (
        f"prompt tokens/request {num(u.get('prompt_tokens_mean'), 1)}  completion tokens/request "
        f"{num(u.get('completion_tokens_mean'), 1)}  {latency_label} p50 {num(u.get('latency_p50_s'), 2)}s  "
        f"p95 {num(u.get('latency_p95_s'), 2)}s"
    )
    if errors:
        line += f"  errors {int(u.get('errors', 0))}"
    return line


def health_lines(health: Mapping[str, float], run_id: str | None = None) -> list[str]:
    """The output-health line and a `warning:` line for anything that stands out ([] for a run
    recorded before health was measured, or one with no generated outputs)."""
    if not health:
        return []
    h = health
    n = int(h.get("n", 0))
    line = (
        f"output health (n={n}): hit length limit {h.get('truncated', 0.0):.0%}  "
        f"repeated lines {h.get('repeated_lines', 0.0):.0%}  repeated 4-grams {h.get('repeated_ngrams', 0.0):.0%}  "
        f"empty {h.get('empty', 0.0):.0%}"
    )
    return [line] + [f"warning: {w}" for w in health_warnings(h, run_id)]
