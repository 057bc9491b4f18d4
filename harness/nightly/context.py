"""What one nightly pass carries from item to item: the loaded plan, policy, suites and specs, the
item rows as stored, and its counts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..store import Store
from ..types import ModelSpec, Suite
from .plan import Plan, PlanModel, PlanSuite

VerdictRenderer = Callable[[dict[str, Any], Store], str]
"""(verdict body, store) -> Markdown of the verdict report; the CLI passes `reports.render`'s."""


@dataclass
class PassContext:
    plan: Plan
    store: Store
    date: str
    workspace: str | None
    policy: Any
    suites: list[tuple[PlanSuite, Suite]]
    specs: dict[str, ModelSpec]
    echo: Callable[[str], None]
    progress: bool
    retry_errors: bool
    backend_factory: Callable[[PlanModel, ModelSpec], Any] | None
    render_verdict: VerdictRenderer | None = None
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: {"ran": 0, "reused": 0, "errors": 0})
