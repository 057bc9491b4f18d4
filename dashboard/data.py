"""What the dashboard pages show, read from the store: plain values and pandas DataFrames.

Nothing here writes. The SQL lives in `harness.store.dashboard`: queries that could touch a big run
page through it there (per-sample tables, side-by-side samples) and never load every completion of
a run at once. Everything is tolerant of records written by newer or older code: a missing field is
None, never a crash.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from harness.fmt import fnum, num
from harness.store import Store, default_url
from harness.store import dashboard as queries
from harness.store.dashboard import display_url, has_records, score_names
from harness.types import Completion, RunRecord, SampleResult, last_user_content

__all__ = [  # what the pages use (display_url, has_records, score_names, fnum: the library's own)
    "PAGE_SIZE",
    "RELIABILITY_FIELDS",
    "STORE_ENV",
    "clip",
    "display_url",
    "failed_runs",
    "filter_runs",
    "fnum",
    "g",
    "get_records",
    "get_run",
    "has_records",
    "judgment_rows",
    "loss_curves",
    "metric_history",
    "metric_values",
    "metrics_frame",
    "open_store",
    "paired_samples",
    "rule_rows",
    "runs_frame",
    "sample_result",
    "sample_texts",
    "samples_page",
    "score_names",
    "sqlite_path",
    "store_url",
    "stored_comparison",
    "sweep_frame",
    "training_frame",
    "verdict_rows",
]

STORE_ENV = "TUNEBENCH_STORE"
"""Environment variable holding the store URL the dashboard reads (set by `tunebench dashboard`)."""

PAGE_SIZE = 50


# --------------------------------------------------------------------------- store location


def store_url(argv: Sequence[str] | None = None) -> str:
    """The store URL: `--store URL` after `--` on the streamlit command line, else $TUNEBENCH_STORE,
    else the workspace default (./.tunebench or $TUNEBENCH_HOME)."""
    args = list(sys.argv[1:] if argv is None else argv)
    for i, a in enumerate(args):
        if a == "--store" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--store="):
            return a.split("=", 1)[1]
    return os.environ.get(STORE_ENV) or default_url()


def sqlite_path(url: str) -> Path | None:
    return Path(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else None


def open_store(url: str) -> Store | None:
    """The store at `url`, or None when it is a SQLite file that does not exist yet (a fresh
    workspace: the dashboard shows empty states instead of creating a database)."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return None
    return Store(url)


# --------------------------------------------------------------------------- runs and metrics

RUN_COLUMNS = ["id", "created", "suite", "version", "model", "prompt", "split", "status", "n", "metrics"]


def _metrics_summary(rec: dict[str, Any], k: int = 3) -> str:
    ms = rec.get("metrics") or {}
    parts = []
    for name, m in list(ms.items())[:k]:
        v = (m or {}).get("value")
        parts.append(f"{name}={num(v)}")
    return ", ".join(parts) + (" …" if len(ms) > k else "")


def runs_frame(store: Store, limit: int | None = None) -> pd.DataFrame:
    """All runs, newest first: one row each (id, created, suite, version, model, prompt, split,
    status, n samples, the first metrics as text)."""
    rows = []
    for rid, created, suite, version, model, prompt, split, status, raw in queries.run_rows(store, limit):
        try:
            rec = json.loads(raw)
        except ValueError:
            rec = {}
        rows.append(
            (
                rid,
                pd.to_datetime(created, utc=True, errors="coerce"),
                suite,
                version,
                model,
                prompt,
                split,
                status,
                int(rec.get("n_samples") or 0),
                _metrics_summary(rec),
            )
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def filter_runs(
    df: pd.DataFrame,
    *,
    suites: Iterable[str] = (),
    models: Iterable[str] = (),
    statuses: Iterable[str] = (),
    date_from: Any = None,
    date_to: Any = None,
    text: str = "",
) -> pd.DataFrame:
    """Rows of `runs_frame` matching every given filter (an empty filter keeps everything). Dates
    are inclusive calendar days (UTC)."""
    out = df
    suites, models, statuses = list(suites), list(models), list(statuses)
    if suites:
        out = out[out["suite"].isin(suites)]
    if models:
        out = out[out["model"].isin(models)]
    if statuses:
        out = out[out["status"].isin(statuses)]
    if date_from is not None:
        out = out[out["created"] >= pd.Timestamp(date_from, tz="UTC")]
    if date_to is not None:
        out = out[out["created"] < pd.Timestamp(date_to, tz="UTC") + pd.Timedelta(days=1)]
    if text:
        t = text.lower()
        hay = out["id"].str.lower() + " " + out["model"].str.lower() + " " + out["prompt"].str.lower()
        out = out[hay.str.contains(t, regex=False)]
    return out


def get_run(store: Store, run_id: str) -> RunRecord | None:
    return queries.find_run(store, run_id)


def metrics_frame(store: Store, run_id: str) -> pd.DataFrame:
    """One run's metrics: name, value, ci_low, ci_high, n (in stored order)."""
    df = pd.DataFrame(
        queries.metric_rows(store, run_id), columns=["metric", "value", "ci_low", "ci_high", "n"]
    )
    rec = get_run(store, run_id)
    if rec is not None and rec.metrics:  # keep the run's own metric order
        order = {k: i for i, k in enumerate(rec.metrics)}
        df = df.assign(_o=df["metric"].map(order).fillna(len(order))).sort_values("_o").drop(columns="_o")
    return df.reset_index(drop=True)


def metric_history(store: Store, suite: str | None = None) -> pd.DataFrame:
    """Every completed run's metrics joined with the run: run_id, created, suite, model, prompt,
    split, metric, value, ci_low, ci_high, n."""
    rows = queries.metric_history_rows(store, suite)
    cols = [
        "run_id",
        "created",
        "suite",
        "model",
        "prompt",
        "split",
        "metric",
        "value",
        "ci_low",
        "ci_high",
        "n",
    ]
    df = pd.DataFrame(rows, columns=cols)
    df["created"] = pd.to_datetime(df["created"], utc=True, errors="coerce")
    return df


# --------------------------------------------------------------------------- samples


def last_user(prompt: Any) -> str:
    """The last user message of a stored prompt (a JSON list of {role, content})."""
    return last_user_content((json.loads(prompt) if isinstance(prompt, str) else prompt) or [])


def _completion(raw: str) -> Completion:
    try:
        return Completion.model_validate_json(raw)
    except ValueError:
        return Completion(text=raw)


def clip(text: str | None, limit: int = 160) -> str:
    if text is None:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def samples_page(
    store: Store,
    run_id: str,
    *,
    search: str = "",
    metric: str | None = None,
    max_value: float | None = None,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> tuple[int, pd.DataFrame]:
    """(matching count, one page of samples) in run order. `search` matches, case-insensitively,
    the sample id, prompt, reference or completion; `metric` with `max_value` keeps samples whose
    score `metric` is at most `max_value` (e.g. failed: `category` <= 0). Columns: #, sample_id,
    input, completion, reference, error, then one per score."""
    total, rows, vals = queries.samples_page(
        store, run_id, search=search, metric=metric, max_value=max_value, offset=offset, limit=limit
    )
    names = sorted({n for d in vals.values() for n in d})
    out = []
    for r in rows:
        c = _completion(r["completion"])
        row: dict[str, Any] = {
            "#": r["idx"],
            "sample_id": r["sample_id"],
            "input": clip(last_user(r["prompt"])),
            "completion": clip(c.text),
            "reference": clip(r["reference"]),
            "error": c.error or "",
        }
        for n in names:
            row[n] = vals.get(r["sample_id"], {}).get(n)
        out.append(row)
    cols = ["#", "sample_id", "input", "completion", "reference", "error", *names]
    return total, pd.DataFrame(out, columns=cols)


def sample_result(store: Store, run_id: str, sample_id: str) -> SampleResult | None:
    """One stored sample with its full prompt, completion, reference and every score."""
    return next(store.iter_results(run_id, sample_ids=[sample_id]), None)


def sample_texts(store: Store, run_id: str, sample_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """sample_id -> {input, completion, reference, error} for the given samples only."""
    out: dict[str, dict[str, Any]] = {}
    for sid, prompt, reference, completion in queries.sample_text_rows(store, run_id, sample_ids):
        c = _completion(completion)
        out[sid] = {
            "input": last_user(prompt),
            "completion": c.text,
            "reference": reference,
            "error": c.error,
        }
    return out


def metric_values(store: Store, run_id: str, name: str) -> dict[str, float | None]:
    """sample_id -> the per-sample score `name` (no completions loaded)."""
    return queries.score_by_sample(store, run_id, name)


def paired_samples(
    store: Store, run_a: str, run_b: str, name: str, higher_is_better: bool = True
) -> pd.DataFrame:
    """Per-sample `name` of A and B on the samples both have a value for, sorted largest regression
    first in the metric's direction (delta = B - A ascending, or descending when lower is better),
    ties in run order."""
    va, vb = metric_values(store, run_a, name), metric_values(store, run_b, name)
    order = queries.sample_order(store, run_a)
    rows = []
    for sid, x in va.items():
        y = vb.get(sid)
        if x is not None and y is not None:
            rows.append((sid, float(x), float(y), float(y) - float(x), order.get(sid, 0)))
    df = pd.DataFrame(rows, columns=["sample_id", "A", "B", "delta", "_idx"])
    df["_good"] = df["delta"] if higher_is_better else -df["delta"]
    return (
        df.sort_values(["_good", "_idx"], kind="stable")
        .drop(columns=["_idx", "_good"])
        .reset_index(drop=True)
    )


# --------------------------------------------------------------------------- other records


def get_records(store: Store, kind: str) -> list[dict[str, Any]]:
    """Records of one kind, newest first (id, kind, created_at, ref, body)."""
    return list(reversed(store.get_records(kind)))


def stored_comparison(store: Store, run_a: str, run_b: str) -> dict[str, Any] | None:
    """The newest stored comparison body of A..B, if any."""
    recs = store.get_records("comparison", ref=f"{run_a}..{run_b}")
    return recs[-1]["body"] if recs else None


def g(d: Any, *path: Any, default: Any = None) -> Any:
    """d[p0][p1]... or `default` when any step is missing or of the wrong type."""
    cur = d
    for p in path:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and isinstance(p, int) and -len(cur) <= p < len(cur):
            cur = cur[p]
        else:
            return default
    return cur if cur is not None else default


# --------------------------------------------------------------------------- training

TRAIN_COLUMNS = [
    "id",
    "created",
    "base_model",
    "quantization",
    "steps",
    "first_loss",
    "final_loss",
    "wall_time_s",
    "tokens_per_s",
    "adapter_path",
]


def training_frame(recs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for r in recs:
        b = r.get("body") or {}
        rows.append(
            {
                "id": b.get("id") or r.get("id"),
                "created": r.get("created_at"),
                "base_model": b.get("base_model"),
                "quantization": b.get("quantization"),
                "steps": b.get("steps"),
                "first_loss": fnum(b.get("first_loss")),
                "final_loss": fnum(b.get("final_loss")),
                "wall_time_s": fnum(b.get("wall_time_s")),
                "tokens_per_s": fnum(b.get("tokens_per_s")),
                "adapter_path": b.get("adapter_path"),
            }
        )
    return pd.DataFrame(rows, columns=TRAIN_COLUMNS)


def loss_curves(recs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Long table: run, curve ("train" by step, "eval" by epoch or step), x, loss."""
    rows = []
    for r in recs:
        b = r.get("body") or {}
        rid = b.get("id") or r.get("id")
        for curve, key in (("train", "train_loss_curve"), ("eval", "eval_loss_curve")):
            for pt in b.get(key) or []:
                if isinstance(pt, (list, tuple)) and len(pt) >= 2:
                    x, y = fnum(pt[0]), fnum(pt[1])
                elif isinstance(pt, dict):
                    x, y = fnum(pt.get("step", pt.get("epoch"))), fnum(pt.get("loss"))
                else:
                    continue
                if x is not None and y is not None:
                    rows.append((rid, curve, x, y))
    return pd.DataFrame(rows, columns=["run", "curve", "x", "loss"])


def _scalar(v: Any) -> Any:
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v)
    return v


def sweep_frame(store: Store, recs: Sequence[dict[str, Any]], all_params: bool = False) -> pd.DataFrame:
    """One row per training run: its hyperparameters (those that vary across the runs, or all) and
    the metrics of its eval runs (body["eval_runs"]: suite -> run id) as "suite:metric" columns."""
    configs = [(r.get("body") or {}).get("config") or {} for r in recs]
    keys = list(dict.fromkeys(k for c in configs for k in c))
    if not all_params and len(configs) > 1:
        keys = [
            k for k in keys if len({json.dumps(c.get(k), sort_keys=True, default=str) for c in configs}) > 1
        ]
    rows = []
    for r, cfg in zip(recs, configs, strict=True):
        b = r.get("body") or {}
        row: dict[str, Any] = {"training run": b.get("id") or r.get("id")}
        for k in keys:
            row[k] = _scalar(cfg.get(k))
        row["final_loss"] = fnum(b.get("final_loss"))
        row["tokens_per_s"] = fnum(b.get("tokens_per_s"))
        eval_runs = b.get("eval_runs") or {}
        if isinstance(eval_runs, list):
            eval_runs = {str(i): rid for i, rid in enumerate(eval_runs)}
        for suite, rid in eval_runs.items():
            rec = get_run(store, str(rid)) if rid else None
            if rec is None:
                continue
            for name, m in rec.metrics.items():
                row[f"{suite}:{name}"] = m.value
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- gate, judge, trends


def verdict_rows(recs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for r in recs:
        b = r.get("body") or {}
        rules = b.get("rules") or []
        failed = sum(1 for x in rules if isinstance(x, dict) and not x.get("passed"))
        rows.append(
            {
                "verdict": "PASS" if b.get("passed") else "FAIL",
                "id": b.get("id") or r.get("id"),
                "created": b.get("created_at") or r.get("created_at"),
                "policy": g(b, "policy", "name", default=""),
                "candidate": str(b.get("candidate") or ""),
                "baseline": str(b.get("baseline") or ""),
                "rules": len(rules),
                "failed rules": failed,
            }
        )
    return pd.DataFrame(
        rows, columns=["verdict", "id", "created", "policy", "candidate", "baseline", "rules", "failed rules"]
    )


RULE_COLUMNS = [
    "result",
    "suite",
    "metric",
    "rule",
    "kind",
    "reason",
    "value",
    "baseline",
    "delta",
    "ci_low",
    "ci_high",
    "p",
    "n",
]


def rule_rows(body: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for x in body.get("rules") or []:
        if not isinstance(x, dict):
            continue
        rows.append(
            {
                "result": "PASS" if x.get("passed") else "FAIL",
                "suite": x.get("suite"),
                "metric": x.get("metric"),
                "rule": x.get("rule"),
                "kind": x.get("kind"),
                "reason": x.get("reason", ""),
                "value": fnum(x.get("value")),
                "baseline": fnum(x.get("baseline_value")),
                "delta": fnum(x.get("delta")),
                "ci_low": fnum(x.get("ci_low")),
                "ci_high": fnum(x.get("ci_high")),
                "p": fnum(x.get("p_adjusted", x.get("p_value"))),
                "n": x.get("n"),
            }
        )
    return pd.DataFrame(rows, columns=RULE_COLUMNS)


RELIABILITY_FIELDS = [
    ("position_consistency", "position consistency", "same verdict in both answer orders"),
    ("repeat_agreement", "repeat agreement", "same verdict when a pair is judged again"),
    (
        "length_correlation",
        "length correlation",
        "correlation of verdicts with the answers' length difference",
    ),
    ("kappa", "human agreement (kappa)", "Cohen's kappa of the judge against human ratings"),
    ("first_position_rate", "first-position rate", "share of wins going to the answer shown first"),
]


def judgment_rows(recs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for r in recs:
        b = r.get("body") or {}
        rel = b.get("reliability") or {}
        claimed = b.get("win_rate_claimed", True) is not False  # not claimed: shown blank
        row: dict[str, Any] = {
            "id": b.get("id") or r.get("id"),
            "created": b.get("created_at") or r.get("created_at"),
            "suite": b.get("suite"),
            "A": b.get("model_a") or b.get("run_a"),
            "B": b.get("model_b") or b.get("run_b"),
            "judge": b.get("judge"),
            "pairs": b.get("n_judged", b.get("n_pairs")),
            "B win rate": fnum(b.get("win_rate_b")) if claimed else None,
            "ci_low": fnum(b.get("win_ci_low")) if claimed else None,
            "ci_high": fnum(b.get("win_ci_high")) if claimed else None,
        }
        for key, label, _ in RELIABILITY_FIELDS:
            row[label] = fnum(rel.get(key)) if isinstance(rel, dict) else None
        row["family warning"] = (rel.get("family_warning") if isinstance(rel, dict) else None) or ""
        rows.append(row)
    return pd.DataFrame(rows)


def _strings(obj: Any) -> Iterable[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _strings(v)


def failed_runs(store: Store) -> dict[str, str]:
    """run id -> why it is marked failed: candidate runs of failed verdicts, and runs named by nightly
    records whose verdict failed (body "passed" false, or a nested verdict with passed false)."""
    out: dict[str, str] = {}
    for r in store.get_records("verdict"):
        b = r.get("body") or {}
        if b.get("passed") is False or b.get("passed") == 0:
            for v in (b.get("runs") or {}).values():
                cand = v.get("candidate") if isinstance(v, dict) else None
                if cand:
                    out[str(cand)] = f"verdict {b.get('id') or r['id']} failed"
    for r in store.get_records("nightly"):
        b = r.get("body") or {}
        passed = b.get("passed", g(b, "verdict", "passed"))
        failed = passed is False or b.get("status") == "failed" or g(b, "verdict", "passed") is False
        if not failed:
            continue
        for s in _strings(
            {k: v for k, v in b.items() if k in ("runs", "run_ids", "candidate_runs", "verdict")}
        ):
            out.setdefault(s, f"nightly {r['id']} failed")
    return out
