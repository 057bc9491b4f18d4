"""What makes two runs comparable: `check_comparable` refuses (InputError naming every difference,
with a hint) unless both are completed runs of the same suite name, version and content hash, on
the same split, over the same sample ids. Models and prompts may differ: that is what is compared.
Also: warnings for an adapter evaluated on another precision than it was trained on, the warnings
each run stored (`run_warnings`), and the suite the runs were made with (needed to rebuild
corpus-level scorers; from disk or the run's stored snapshot)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from ..store import Store
from ..types import ModelSpec, RunRecord, Suite


def check_comparable(store: Store, a: RunRecord, b: RunRecord) -> None:
    """InputError naming everything that makes A and B incomparable, with a hint."""
    diffs: list[str] = []
    hints: list[str] = []
    for tag, r in (("A", a), ("B", b)):
        if r.status != "completed":
            diffs.append(f"run {tag} ({r.id}) is {r.status}, not completed")
            hints.append("re-run the same `tunebench run` command to finish (or redo) it")
    if a.suite != b.suite:
        diffs.append(f"suite name differs: A ran {a.suite!r}, B ran {b.suite!r}")
    if a.suite_version != b.suite_version:
        diffs.append(
            f"suite version differs: A ran {a.suite}@{a.suite_version}, B ran {b.suite}@{b.suite_version}"
        )
    if a.suite_hash != b.suite_hash:
        why = (
            " although the version is the same (its YAML or data changed without a version bump)"
            if (a.suite == b.suite and a.suite_version == b.suite_version)
            else ""
        )
        diffs.append(f"suite hash differs: A {a.suite_hash[:12]}, B {b.suite_hash[:12]}{why}")
    if a.suite != b.suite or a.suite_version != b.suite_version or a.suite_hash != b.suite_hash:
        hints.append(
            "run the baseline and the candidate on the same suite version (`tunebench run SUITE --model ...`)"
        )
    if a.split != b.split:
        diffs.append(f"split differs: A ran {a.split!r}, B ran {b.split!r}")
        hints.append("use the same --split for both runs")
    if a.status == "completed" and b.status == "completed":
        ids_a, ids_b = store.sample_ids(a.id), store.sample_ids(b.id)
        set_a, set_b = set(ids_a), set(ids_b)
        if set_a != set_b:
            only_a = [i for i in ids_a if i not in set_b]
            only_b = [i for i in ids_b if i not in set_a]
            msg = (
                f"sample ids differ: A has {len(ids_a)}, B has {len(ids_b)}; "
                f"{len(only_a)} only in A{_examples(only_a)}, {len(only_b)} only in B{_examples(only_b)}"
            )
            if a.limit != b.limit:
                msg += f" (A ran with --limit {a.limit}, B with --limit {b.limit})"
            diffs.append(msg)
            hints.append("evaluate both runs on the same samples (same --limit, or none)")
    if diffs:
        raise InputError(
            f"runs A ({a.id}) and B ({b.id}) are not comparable:\n" + "\n".join(f"  - {d}" for d in diffs),
            hint="; ".join(dict.fromkeys(hints)),
        )


def _examples(ids: Sequence[str], k: int = 3) -> str:
    if not ids:
        return ""
    more = ", ..." if len(ids) > k else ""
    return " (e.g. " + ", ".join(ids[:k]) + more + ")"


def precision_warnings(tag: str, spec: ModelSpec) -> list[str]:
    """A warning when a run's LoRA adapter was trained on another quantization/precision than the
    base it was evaluated on (read from the adapter's tunebench_adapter.json)."""
    if not spec.adapter:
        return []
    from ..models import read_adapter_meta

    meta = read_adapter_meta(spec.adapter)
    if not meta:
        return []
    trained_q = meta.get("quantization") or "none"
    loaded_q = spec.quantization or "none"
    trained_p = meta.get("base_precision")
    loaded_p = spec.dtype
    precision_differs = (
        bool(trained_p) and loaded_q == "none" and loaded_p != "auto" and trained_p != loaded_p
    )
    if trained_q == loaded_q and not precision_differs:
        return []
    return [
        f"run {tag}: adapter {spec.adapter} was trained on a {trained_q}/{trained_p or '?'} base but was "
        f"evaluated on {loaded_q}/{loaded_p}: its scores may not match how it was trained (a QLoRA adapter "
        "moved to a bf16 base can lose accuracy); compare on the training precision"
    ]


def run_warnings(tag: str, rec: RunRecord) -> list[str]:
    """The warnings a run stored (an adapter loaded on another base than it was trained on, a changed
    endpoint fingerprint), repeated for a comparison that uses it; the adapter's base identity is
    checked again, as precision is, for runs stored before runs kept warnings."""
    from ..models.adapter_check import base_identity_warnings

    found = dict.fromkeys([*rec.warnings, *base_identity_warnings(rec.model)])
    return [f"run {tag}: {w}" for w in found]


def resolve_suite(
    rec: RunRecord, suite: Suite | str | Path | None, store: Store | None = None
) -> tuple[Suite | None, str]:
    """The suite the runs were made with (same content hash): the one given, else
    `harness.suite.suite_for_run` (on disk, else the snapshot the run stored); or None and why not."""
    from ..suite import load_suite, suite_for_run

    tried: list[str] = []
    if suite is not None:
        try:
            s = suite if isinstance(suite, Suite) else load_suite(suite)
        except Exception as e:  # an unregistered user suite, a moved folder, ...
            tried.append(f"{suite}: {str(e).splitlines()[0]}")
        else:
            if s.content_hash == rec.suite_hash:
                return s, ""
            tried.append(f"{suite}: content hash {s.content_hash[:12]}, the runs used {rec.suite_hash[:12]}")
    try:
        return suite_for_run(store, rec), ""
    except InputError as e:
        tried.append(str(e.args[0]))
    return None, "; ".join(tried)
