"""What a run records about where its outputs came from, beyond the model spec: the resolved suite
(a snapshot in the store, so the run can be replayed without the YAML), the warnings that qualify
its numbers (an adapter loaded on another base than it was trained on; an endpoint whose
`system_fingerprint` changed within the run or since the last run of the same spec), and the
fingerprints themselves (`env["system_fingerprints"]`). Warnings are stored in the RunRecord,
printed to stderr, and repeated by every comparison that uses the run."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

from .models.adapter_check import base_identity_warnings
from .store import Store
from .store.snapshots import put_suite_snapshot
from .suite import snapshot_id, suite_snapshot
from .types import Completion, ModelSpec, PromptConfig, RunRecord, Sample, Suite


def store_suite_snapshot(
    store: Store, suite: Suite, prompt: PromptConfig, split: str, fewshot: Sequence[Sample]
) -> str:
    """Write the run's suite snapshot (once per suite hash, prompt and split); returns its id."""
    sid = snapshot_id(suite.content_hash, prompt, split)
    put_suite_snapshot(store, sid, suite.content_hash, suite_snapshot(suite, prompt, split, fewshot))
    return sid


def start_warnings(spec: ModelSpec) -> list[str]:
    """Warnings known before anything is generated (from the spec and the adapter folder)."""
    return base_identity_warnings(spec)


def endpoint_fingerprints(completions: Iterable[Completion]) -> list[str]:
    """The distinct `system_fingerprint`s the endpoint returned with these completions, sorted."""
    found = set()
    for c in completions:
        fp = (c.raw or {}).get("system_fingerprint")
        if isinstance(fp, str) and fp:
            found.add(fp)
    return sorted(found)


def fingerprint_warnings(store: Store, record: RunRecord, fingerprints: Sequence[str]) -> list[str]:
    """A warning when the endpoint answered this run with several fingerprints, or with others than
    the latest completed run of the same model identity."""
    if not fingerprints:
        return []
    spec = record.model
    pin = "pin the deployment in the spec (openai:MODEL@URL#rev=REV) so a new one starts a new cache"
    out = []
    if len(fingerprints) > 1:
        out.append(
            f"endpoint {spec.label}: system_fingerprint changed within this run ({', '.join(fingerprints)}): "
            "the server's model or configuration changed while its outputs were collected (or cached "
            f"outputs come from an earlier deployment); {pin}"
        )
    for prev in store.list_runs(model=spec.label, status="completed", limit=50):
        if prev.id == record.id or prev.model.identity != spec.identity:
            continue
        before = prev.env.get("system_fingerprints")
        if not before:
            continue
        if sorted(before) != list(fingerprints):
            out.append(
                f"endpoint {spec.label}: system_fingerprint {', '.join(fingerprints)} differs from "
                f"{', '.join(before)} in run {prev.id}: the same model name may now be another deployment; {pin}"
            )
        break
    return out


def emit(warnings: Iterable[str]) -> None:
    for w in warnings:
        print(f"[tunebench] warning: {w}", file=sys.stderr)


def merge_warnings(*groups: Iterable[str]) -> list[str]:
    """The warnings of every group, in order, each once."""
    return list(dict.fromkeys(w for g in groups for w in g))


def env_with_fingerprints(env: dict[str, Any], fingerprints: Sequence[str]) -> dict[str, Any]:
    return {**env, "system_fingerprints": list(fingerprints)} if fingerprints else env
