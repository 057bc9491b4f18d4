"""Which runs a gate compares: the baseline run of each suite (given run ids, or the blessed model
versions; nightly plans resolve theirs with the same function) and the candidate's (run ids, or a
model spec run on every policy suite, on the baseline run's split and limit)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..models.base import DEFAULT_BATCH_SIZE
from ..registry_models import ModelVersion, blessed_version
from ..store import Store
from ..types import RunRecord
from .policy import GatePolicy

SPEC_PREFIXES = ("hf:", "openai:", "mock:")


@dataclass
class Resolved:
    """Run ids per suite name, a label, and why suites lack runs."""

    runs: dict[str, str] = field(default_factory=dict)
    label: str | None = None
    versions: dict[str, ModelVersion] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def is_model_spec(text: str) -> bool:
    t = text.strip()
    return t == "default" or t.startswith("default+") or t.startswith(SPEC_PREFIXES)


def _runs_by_suite(store: Store, run_ids: Sequence[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for rid in run_ids:
        rec = store.get_run(rid)  # unknown id -> InputError (exit 2)
        if rec.suite in out and out[rec.suite] != rec.id:
            raise InputError(
                f"two {what} runs of suite {rec.suite!r}: {out[rec.suite]} and {rec.id}",
                hint=f"give one --{what} run per suite",
            )
        out[rec.suite] = rec.id
    return out


def baseline_runs(
    store: Store,
    suites: Iterable[str],
    *,
    runs: Sequence[str] = (),
    blessed: bool = False,
    given: str = "the --baseline runs",
) -> Resolved:
    """The baseline run of each of `suites` (suite names): with `blessed`, each suite's blessed model
    version; else from the run ids `runs`, keyed by each run's suite (an unknown id, or two runs of
    one suite, is an InputError). `given` names where the ids came from in the reason a suite has
    none. The gate (`resolve_baselines`) and nightly plans both resolve their baselines here."""
    names = list(dict.fromkeys(suites))
    out = Resolved()
    if blessed:
        for name in names:
            v = blessed_version(store, name)
            if v is None:
                out.missing[name] = (
                    f"no blessed model version for suite {name!r} (bless one: `tunebench bless RUN`)"
                )
            else:
                out.runs[name] = v.run_id
                out.versions[name] = v
        return out
    out.runs = _runs_by_suite(store, runs, "baseline")
    for name in names:
        if name not in out.runs:
            out.missing[name] = f"no baseline run for suite {name!r} (none of {given} is of it)"
    return out


def resolve_baselines(
    store: Store, policy: GatePolicy, *, baseline: Sequence[str] = (), against: str | None = None
) -> Resolved:
    """Baseline run per policy suite: from `--baseline RUN` ids (one per suite, keyed by the run's
    suite) or, with against="blessed", each suite's blessed model version."""
    if baseline and against:
        raise InputError("give either --baseline RUN or --against blessed, not both")
    names = policy.suite_names()
    if against is not None and against != "blessed":
        raise InputError(f"--against {against!r}: only 'blessed' is supported")
    return baseline_runs(store, names.values(), runs=baseline, blessed=against is not None)


def paired_split_limit(
    base: RunRecord | None, split: str | None, limit: int | None
) -> tuple[str, int | None]:
    """The split and limit to run a candidate on: those given, else the baseline run's (so the two
    pair up), else the test split and no limit."""
    sp = split or (base.split if base else "test")
    lim = limit if limit is not None else (base.limit if base else None)
    return sp, lim


def resolve_candidate(
    store: Store,
    policy: GatePolicy,
    candidates: Sequence[str],
    *,
    baselines: Resolved | None = None,
    split: str | None = None,
    limit: int | None = None,
    workspace: str | Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
) -> Resolved:
    """Candidate run per policy suite. Each value is a run id (its suite is read from its record;
    one per suite) or a model spec: the spec is run on every policy suite that has no candidate run
    yet, on `split` (default: the baseline run's split, else test) and `limit` (default: the
    baseline run's limit) so it is comparable with the baseline; cached generations make re-runs
    cheap."""
    specs = [c for c in candidates if is_model_spec(c)]
    ids = [c for c in candidates if not is_model_spec(c)]
    if len(specs) > 1:
        raise InputError(
            f"more than one candidate model spec: {', '.join(specs)}", hint="give one model spec"
        )
    if not candidates:
        raise InputError(
            "no --candidate given", hint="--candidate RUN_ID (one per suite) or --candidate MODEL_SPEC"
        )
    out = Resolved(runs=_runs_by_suite(store, ids, "candidate"))
    if specs:
        from ..models import parse_spec
        from ..runner import run_suite
        from ..suite import load_suite

        spec = parse_spec(specs[0], workspace=workspace)
        out.label = spec.label
        done: set[str] = set()
        for rule in policy.rules:
            name = policy.suite_names()[rule.suite]
            if name in out.runs or name in done:
                continue
            done.add(name)
            suite = load_suite(policy.suite_ref(rule))
            base_rec = None
            if baselines is not None and name in baselines.runs:
                base_rec = store.get_run(baselines.runs[name])
            sp, lim = paired_split_limit(base_rec, split, limit)
            rec = run_suite(
                suite, spec, store=store, split=sp, limit=lim, batch_size=batch_size, progress=progress
            )
            out.runs[name] = rec.id
            out.notes.append(
                f"ran {spec.label} on {suite.ref} split={sp}"
                + (f" limit={lim}" if lim else "")
                + f": run {rec.id}"
            )
    return out
