"""Export stored runs, comparisons, verdicts and training runs to MLflow (extra `mlflow`: the
mlflow-skinny client is enough for a tracking server or a local `./mlruns` folder).

What becomes what:

* a run -> an MLflow run: params (suite@version+hash, split, limit, the model's identity, the prompt,
  the generation config), metrics with their CI bounds (`NAME`, `NAME.ci_low`, `NAME.ci_high`), and
  artifacts: the per-sample table `samples.csv` and the record `run.json`;
* a training run -> an MLflow run: its config as params, its loss curves as step metrics
  (`train_loss` at each logged step; `eval_loss` at each evaluation, with `eval_epoch`), its summary
  numbers as metrics, `training.json`; the runs it was evaluated with are exported too;
* a comparison -> an MLflow run: per metric `NAME.a`, `NAME.b`, `NAME.delta` with `NAME.delta.ci_low`
  / `NAME.delta.ci_high` and `NAME.p_value`; its two runs are exported too;
* a verdict -> tags on its candidate runs and on the comparisons it read (`tunebench.verdict.<id>`:
  PASS/FAIL and the policy, `tunebench.verdict.<id>.<n>`: one rule each).

Idempotent: every exported object carries the tag `tunebench.id`; an export first searches for it,
and finds it rather than creating it again. An object whose export was cut short (no
`tunebench.export` = complete tag) is deleted and exported again; so is a run exported while it was
still running.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..store import Store
from ..types import RunRecord, last_user_content

ID_TAG = "tunebench.id"
KIND_TAG = "tunebench.kind"
DONE_TAG = "tunebench.export"
RECORD_KINDS = ("comparison", "verdict", "training")
MAX_PARAM = 6000  # MLflow's limits on a param / tag value
MAX_TAG = 5000
BATCH = 100  # params or tags per log_batch call (MLflow's limit); metrics up to 1000


@dataclass
class ExportResult:
    """What an export did: tunebench id -> MLflow run id, and which of those it created now."""

    tracking_uri: str
    experiment_id: str
    mlflow_ids: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)
    tagged: list[str] = field(default_factory=list)  # verdict ids written as tags
    notes: list[str] = field(default_factory=list)


def tracking_uri_of(uri: str) -> str:
    """A path (`./mlruns`) becomes a file: URI; anything with a scheme is MLflow's business."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri) and not re.match(r"^[A-Za-z]:[\\/]", uri):
        return uri
    return Path(uri).expanduser().resolve().as_uri()


def _client(uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as e:
        raise InputError(
            "exporting to MLflow needs the MLflow client, which is not installed",
            hint="pip install 'tunebench[mlflow]' (mlflow-skinny)",
        ) from e
    if uri.startswith("file:"):
        # MLflow 3 keeps its file store in maintenance mode and refuses it unless told; a local
        # folder is what this command was asked for
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(tracking_uri=uri)


def export_mlflow(
    store: Store,
    ids: Sequence[str] = (),
    *,
    tracking_uri: str = "./mlruns",
    experiment: str = "tunebench",
) -> ExportResult:
    """Export `ids` (run ids, comparison, verdict or training ids; unique prefixes work), or every
    stored object when `ids` is empty, into `experiment` at `tracking_uri`; see the module docstring."""
    targets = _resolve(store, ids)
    uri = tracking_uri_of(tracking_uri)
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp is not None else client.create_experiment(experiment)
    ex = _Exporter(store, client, ExportResult(uri, exp_id))
    for kind, obj_id in targets:
        getattr(ex, kind)(obj_id)
    return ex.result


def _resolve(store: Store, ids: Sequence[str]) -> list[tuple[str, str]]:
    records = {kind: [r["id"] for r in store.get_records(kind)] for kind in RECORD_KINDS}
    if not ids:
        runs = [r.id for r in reversed(store.list_runs(limit=10**9))]  # oldest first
        return [("run", r) for r in runs] + [
            (k, i) for k in ("training", "comparison", "verdict") for i in records[k]
        ]
    out = []
    for wanted in ids:
        hits = [(k, i) for k in RECORD_KINDS for i in records[k] if i == wanted]
        hits = hits or [(k, i) for k in RECORD_KINDS for i in records[k] if i.startswith(wanted)]
        if not hits:
            try:
                hits = [("run", store.get_run(wanted).id)]
            except InputError as e:
                if "ambiguous" in str(e):
                    raise
        if not hits:
            raise InputError(
                f"no run, comparison, verdict or training run {wanted!r} in {store.url}",
                hint="`tunebench runs` lists runs; the dashboard lists comparisons, verdicts and training runs",
            )
        if len(hits) > 1:
            raise InputError(f"id prefix {wanted!r} is ambiguous ({len(hits)} stored objects)")
        out.append(hits[0])
    return out


class _Exporter:
    def __init__(self, store: Store, client: Any, result: ExportResult):
        self.store = store
        self.client = client
        self.result = result

    # -- one MLflow run per object, found or created ---------------------------------------------
    def _existing(self, obj_id: str) -> str | None:
        """The MLflow run already holding `obj_id`, or None; a half-done one is deleted."""
        q = f"tags.`{ID_TAG}` = '{obj_id}'"
        found = self.client.search_runs([self.result.experiment_id], filter_string=q, max_results=10)
        keep = None
        for run in found:
            if keep is None and run.data.tags.get(DONE_TAG) == "complete":
                keep = run.info.run_id
            else:
                self.client.delete_run(run.info.run_id)
        return keep

    def _export(self, obj_id: str, kind: str, name: str, write: Any, started: str | None, status: str) -> str:
        """Find or create the MLflow run of `obj_id`; `write(mlflow_run_id)` logs its content and
        returns its end time. `status`: FINISHED, FAILED, or RUNNING (exported again next time)."""
        if obj_id in self.result.mlflow_ids:
            return self.result.mlflow_ids[obj_id]
        mid = self._existing(obj_id)
        if mid is not None:
            self.result.found.append(obj_id)
        else:
            run = self.client.create_run(
                self.result.experiment_id,
                run_name=name[:250],
                start_time=_ms(started),
                tags={ID_TAG: obj_id, KIND_TAG: kind},
            )
            mid = run.info.run_id
            end = write(mid)
            if status != "RUNNING":  # a run still running is exported again next time
                self.client.set_terminated(mid, status=status, end_time=_ms(end))
                self.client.set_tag(mid, DONE_TAG, "complete")
            self.result.created.append(obj_id)
        self.result.mlflow_ids[obj_id] = mid
        return mid

    def _log(
        self,
        mid: str,
        params: Mapping[str, Any] | None = None,
        metrics: Iterable[tuple[str, Any, int]] = (),
        tags: Mapping[str, Any] | None = None,
        when: str | None = None,
    ) -> None:
        """Params and tags (None values left out) and (name, value, step) metrics (only finite ones)."""
        import time

        from mlflow.entities import Metric, Param, RunTag

        ts = _ms(when) or int(time.time() * 1000)
        ps = [Param(_key(k), _text(v, MAX_PARAM)) for k, v in (params or {}).items() if v is not None]
        ms = [Metric(_key(k), float(v), ts, int(step)) for k, v, step in metrics if _finite(v)]
        ts_ = [RunTag(_key(k), _text(v, MAX_TAG)) for k, v in (tags or {}).items() if v is not None]
        for i in range(0, max(len(ps), len(ts_), 1), BATCH):
            self.client.log_batch(mid, params=ps[i : i + BATCH], tags=ts_[i : i + BATCH])
        for i in range(0, len(ms), 1000):
            self.client.log_batch(mid, metrics=ms[i : i + 1000])

    # -- kinds -------------------------------------------------------------------------------------
    def run(self, run_id: str) -> str:
        rec = self.store.get_run(run_id)

        def write(mid: str) -> str | None:
            self._log(
                mid,
                params=_run_params(rec),
                metrics=_run_metrics(rec),
                tags=_run_tags(rec),
                when=rec.finished_at,
            )
            with tempfile.TemporaryDirectory(prefix="tunebench-export-") as tmp:
                path = Path(tmp) / "samples.csv"
                _write_samples(self.store, rec.id, path)
                self.client.log_artifact(mid, str(path))
            self.client.log_text(mid, rec.model_dump_json(indent=2), "run.json")
            return rec.finished_at

        name = f"{rec.suite} {rec.model.label}"
        status = {"completed": "FINISHED", "failed": "FAILED"}.get(rec.status, "RUNNING")
        return self._export(rec.id, "run", name, write, rec.created_at, status)

    def training(self, train_id: str) -> str:
        rec = self._record("training", train_id)
        body = rec["body"]
        eval_runs = {s: self._maybe_run(r) for s, r in (body.get("eval_runs") or {}).items()}

        def write(mid: str) -> str | None:
            cfg = body.get("config") or {}
            params = {f"config.{k}": _flat(v) for k, v in cfg.items()}
            for k in (
                "base_model",
                "base_precision",
                "quantization",
                "adapter_path",
                "adapter_hash",
                "device",
            ):
                params[k] = body.get(k)
            params.update({f"data_hash.{k}": v for k, v in (body.get("data_hash") or {}).items()})
            params.update(n_train=body.get("n_train"), n_eval=body.get("n_eval"))
            metrics = [
                (k, body[k], 0)
                for k in (
                    "first_loss",
                    "final_loss",
                    "steps",
                    "wall_time_s",
                    "train_runtime_s",
                    "peak_memory_mb",
                    "tokens_per_s",
                    "trainable_params",
                    "total_params",
                )
                if body.get(k) is not None
            ]
            metrics += [("train_loss", loss, int(step)) for step, loss in body.get("train_loss_curve") or []]
            for i, (epoch, loss) in enumerate(body.get("eval_loss_curve") or []):
                metrics += [("eval_loss", loss, i), ("eval_epoch", epoch, i)]
            tags = {
                "tunebench.adapter_hash": body.get("adapter_hash"),
                "tunebench.eval_runs": json.dumps(body.get("eval_runs") or {}),
                **{f"tunebench.eval_run.{s}": m for s, m in eval_runs.items() if m},
            }
            self._log(mid, params=params, metrics=metrics, tags=tags, when=rec["created_at"])
            self.client.log_text(mid, json.dumps(body, indent=2, default=str), "training.json")
            return rec["created_at"]

        name = f"training {Path(str(body.get('adapter_path') or train_id)).parent.name or train_id}"
        return self._export(train_id, "training", name, write, rec["created_at"], "FINISHED")

    def comparison(self, cmp_id: str) -> str:
        rec = self._record("comparison", cmp_id)
        body = rec["body"]
        mid_a, mid_b = self._maybe_run(body["run_a"]), self._maybe_run(body["run_b"])

        def write(mid: str) -> str | None:
            params = {
                k: body.get(k)
                for k in (
                    "run_a",
                    "run_b",
                    "model_a",
                    "model_b",
                    "prompt_a",
                    "prompt_b",
                    "split",
                    "n_samples",
                )
            }
            params["suite"] = f"{body['suite']}@{body['suite_version']}+{body['suite_hash']}"
            params.update(n_boot=body.get("n_boot"), seed=body.get("seed"), alpha=body.get("alpha"))
            metrics: list[tuple[str, Any, int]] = []
            for m in body.get("metrics") or []:
                for key, col in (
                    ("a", "a"),
                    ("b", "b"),
                    ("delta", "delta"),
                    ("delta.ci_low", "ci_low"),
                    ("delta.ci_high", "ci_high"),
                    ("p_value", "p_value"),
                ):
                    metrics.append((f"{m['name']}.{key}", m.get(col), 0))
            tags = {
                "tunebench.run_a": body["run_a"],
                "tunebench.run_b": body["run_b"],
                "tunebench.mlflow_run_a": mid_a,
                "tunebench.mlflow_run_b": mid_b,
                "tunebench.suite": body["suite"],
            }
            self._log(mid, params=params, metrics=metrics, tags=tags, when=body.get("created_at"))
            self.client.log_text(mid, json.dumps(body, indent=2, default=str), "comparison.json")
            return body.get("created_at")

        name = f"compare {body['run_a']}..{body['run_b']}"
        return self._export(cmp_id, "comparison", name, write, body.get("created_at"), "FINISHED")

    def verdict(self, verdict_id: str) -> None:
        body = self._record("verdict", verdict_id)["body"]
        outcome = "PASS" if body.get("passed") else "FAIL"
        policy = (body.get("policy") or {}).get("name", "?")
        tags = {
            f"tunebench.verdict.{verdict_id}": f"{outcome} policy {policy}: {body.get('candidate')} vs {body.get('baseline')}"
        }
        for i, r in enumerate(body.get("rules") or []):
            word = "PASS" if r.get("passed") else "FAIL"
            tags[f"tunebench.verdict.{verdict_id}.{i + 1}"] = (
                f"{word} {r['suite']}:{r['metric']} {r['rule']}: {r['reason']}"
            )
        targets = [self._maybe_run(runs.get("candidate")) for runs in (body.get("runs") or {}).values()]
        targets += [
            self.comparison(c) for c in (body.get("comparisons") or {}).values() if self._has("comparison", c)
        ]
        for mid in dict.fromkeys(t for t in targets if t):
            self._log(mid, tags=tags)
        self.result.tagged.append(verdict_id)

    # -- helpers -----------------------------------------------------------------------------------
    def _record(self, kind: str, rec_id: str) -> dict[str, Any]:
        for r in self.store.get_records(kind):
            if r["id"] == rec_id:
                return r
        raise InputError(f"no {kind} {rec_id!r} in {self.store.url}")

    def _has(self, kind: str, rec_id: str) -> bool:
        return any(r["id"] == rec_id for r in self.store.get_records(kind))

    def _maybe_run(self, run_id: str | None) -> str | None:
        """Export a run an object refers to; a run that is gone from the store is noted, not fatal."""
        if not run_id:
            return None
        try:
            return self.run(run_id)
        except InputError:
            self.result.notes.append(f"run {run_id} is not in the store; not exported")
            return None


# -- runs -------------------------------------------------------------------------------------------


def _run_params(rec: RunRecord) -> dict[str, Any]:
    m, p = rec.model, rec.prompt
    params: dict[str, Any] = {
        "suite": f"{rec.suite}@{rec.suite_version}+{rec.suite_hash}",
        "split": rec.split,
        "limit": rec.limit,
        "n_samples": rec.n_samples,
        "model": m.label,
        "model.backend": m.backend,
        "model.base": m.base,
        "model.base_hash": m.base_hash,
        "model.adapter": m.adapter,
        "model.adapter_hash": m.adapter_hash,
        "model.url": m.url,
        "model.dtype": m.dtype,
        "model.quantization": m.quantization,
        "prompt.name": p.name,
        "prompt.system": p.system,
        "prompt.template": p.template,
    }
    params.update({f"prompt.fewshot.{k}": _flat(v) for k, v in p.fewshot.model_dump(mode="json").items()})
    gen = _generation_config(rec)
    if gen is None:
        params["generation"] = "unknown: the suite file changed since the run (suite_hash differs)"
    else:
        params.update({f"generation.{k}": _flat(v) for k, v in gen.items()})
    return params


def _generation_config(rec: RunRecord) -> dict[str, Any] | None:
    """The run's generation config: from its suite file when that is still the same suite (the
    record names the suite and its content hash, not the config itself)."""
    from ..suite import load_suite

    for where in (rec.suite_path, rec.suite):
        if not where:
            continue
        try:
            suite = load_suite(where)
        except Exception:  # noqa: BLE001 - moved, renamed or broken: try the next place
            continue
        if suite.content_hash == rec.suite_hash:
            return dict(suite.generation.model_dump(mode="json"))
    return None


def _run_metrics(rec: RunRecord) -> list[tuple[str, Any, int]]:
    out: list[tuple[str, Any, int]] = []
    for name, mv in rec.metrics.items():
        out += [(name, mv.value, 0), (f"{name}.ci_low", mv.ci_low, 0), (f"{name}.ci_high", mv.ci_high, 0)]
    out += [(f"timing.{k}", v, 0) for k, v in rec.timing.items()]
    out += [(f"usage.{k}", v, 0) for k, v in rec.usage.items()]
    return out


def _run_tags(rec: RunRecord) -> dict[str, Any]:
    tags = {
        "tunebench.suite": rec.suite,
        "tunebench.suite_version": rec.suite_version,
        "tunebench.model": rec.model.label,
        "tunebench.status": rec.status,
        "tunebench.split": rec.split,
    }
    tags.update({f"tunebench.tag.{k}": _flat(v) for k, v in rec.tags.items()})
    return tags


def _write_samples(store: Store, run_id: str, path: Path) -> None:
    """The per-sample table: input, reference, output, error, tokens, latency and one column per
    score name (the union over samples: a scorer may add names on some samples only)."""
    rows: list[dict[str, Any]] = []
    names: dict[str, None] = {}
    for r in store.iter_results(run_id):
        row: dict[str, Any] = {
            "sample_id": r.sample_id,
            "input": last_user_content(r.prompt),
            "reference": r.reference,
            "output": r.completion.text,
            "error": r.completion.error or "",
            "prompt_tokens": r.completion.prompt_tokens,
            "completion_tokens": r.completion.completion_tokens,
            "latency_s": r.completion.latency_s,
        }
        for s in r.scores:
            names[f"score.{s.name}"] = None
            row[f"score.{s.name}"] = "" if s.value is None else float(s.value)
        rows.append(row)
    fields = ["sample_id", "input", "reference", "output", "error", "prompt_tokens", "completion_tokens"]
    fields += ["latency_s", *names]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, restval="")
        w.writeheader()
        w.writerows(rows)


# -- values -----------------------------------------------------------------------------------------


def _ms(iso: str | None) -> int | None:
    if not iso:
        return None
    try:
        return int(datetime.fromisoformat(iso).timestamp() * 1000)
    except ValueError:
        return None


def _finite(v: Any) -> bool:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return False
    return f == f and f not in (float("inf"), float("-inf"))


def _flat(v: Any) -> Any:
    return v if v is None or isinstance(v, (str, int, float, bool)) else json.dumps(v, default=str)


def _text(v: Any, limit: int) -> str:
    s = str(v)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _key(k: str) -> str:
    """MLflow names allow letters, digits and _ - . space / : only."""
    return re.sub(r"[^\w\-. /:]", "_", k)[:250]
