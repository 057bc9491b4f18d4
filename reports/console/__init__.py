"""Plain-text (terminal) rendering of results: one module per concept. The CLI and the demo call
these; the library below them never imports `reports`."""

from .compare import render_comparison
from .gate import render_verdict, rule_numbers
from .hygiene import render_hygiene
from .judge import render_pairwise, usage_lines
from .ratings import render_results

__all__ = [
    "render_comparison",
    "render_hygiene",
    "render_pairwise",
    "render_results",
    "render_verdict",
    "rule_numbers",
    "usage_lines",
]
