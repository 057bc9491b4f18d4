"""The store: one SQLite file in the workspace (WAL mode), written through SQLAlchemy Core so a
PostgreSQL URL (`postgresql+psycopg://`, extra `postgres`) works the same way; both are tested.
Schema changes are append-only migrations."""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Table, create_engine, event, insert, or_, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from ..types import Completion, MetricValue, RunRecord, SampleResult, Score
from ..workspace import workspace_dir
from .schema import (
    MIGRATIONS,
    RECORD_UPGRADES,
    RecordUpgrade,
    generations,
    judge_calls,
    metrics,
    records,
    runs,
    samples,
    schema_migrations,
    scores,
)

_MIGRATE_LOCK = 0x7475_6E65_6265_6E63  # "tunebenc": the PostgreSQL advisory lock key of migrate()


class ScoreRow(NamedTuple):
    """A stored score without validation (Store.score_rows); `data` may be shared between rows."""

    name: str
    value: float | None
    detail: str
    data: dict[str, Any]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def default_url(workspace: str | Path | None = None) -> str:
    ws = workspace_dir(workspace)
    return f"sqlite:///{ws / 'tunebench.db'}"


def _driver_url(url: str) -> str:
    """A bare postgresql:// (or postgres://) URL names psycopg 3, the driver of the `postgres` extra
    (SQLAlchemy's own default for that scheme is psycopg2)."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


class Store:
    """SQLite (default: WORKSPACE/tunebench.db) or PostgreSQL (`postgresql+psycopg://USER@HOST:PORT/DB`,
    extra `postgres`): the same tables, migrations and queries on both."""

    def __init__(self, url: str | None = None, *, workspace: str | Path | None = None):
        self.url = _driver_url(url or default_url(workspace))
        if self.url.startswith("sqlite:///"):
            Path(self.url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        # a server's connections can drop (restarts, idle timeouts): check one before handing it out
        server = {} if self.url.startswith("sqlite") else {"pool_pre_ping": True}
        try:
            self.engine: Engine = create_engine(self.url, future=True, **server)
        except ModuleNotFoundError as e:
            from ..errors import InputError

            raise InputError(
                f"the store URL needs the database driver {e.name!r}, which is not installed",
                hint="pip install 'tunebench[postgres]' (psycopg 3)"
                if self.url.startswith("postgresql")
                else "install the driver SQLAlchemy names for this URL",
            ) from e
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.migrate()

    # -- schema ----------------------------------------------------------------------------------
    def migrate(self) -> None:
        # SQLite answers "database is locked" at once, without its busy wait, when connections open
        # a new file together (switching it to WAL takes an exclusive lock, and a lock upgrade that
        # could deadlock is refused outright); the migration is one idempotent transaction, so it is
        # simply tried again for a while
        deadline = time.monotonic() + 60
        while True:
            try:
                return self._migrate_locked()
            except OperationalError as e:
                sqlite_busy = self.engine.dialect.name == "sqlite" and "locked" in str(e)
                if not sqlite_busy or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _migrate_locked(self) -> None:
        with self.engine.connect() as conn:
            # take a lock before looking: two processes opening a new store at once would otherwise
            # both create the tables and one would fail
            if self.engine.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif self.engine.dialect.name == "postgresql":  # held until the commit below
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE_LOCK})
            self._migrate(conn)
            conn.commit()

    def _migrate(self, conn: Any) -> None:
        schema_migrations.create(conn, checkfirst=True)
        done = {r[0] for r in conn.execute(select(schema_migrations.c.version))}
        for version, steps in MIGRATIONS:
            if version in done:
                continue
            if not all(self._ready(conn, s) for s in steps):
                continue  # a record upgrade whose function is not registered in this process
            for step in steps:
                if isinstance(step, RecordUpgrade):
                    self._upgrade_records(conn, step)
                else:
                    step.create(conn, checkfirst=True)
            conn.execute(insert(schema_migrations).values(version=version, applied_at=now_iso()))

    @staticmethod
    def _ready(conn: Any, step: Table | RecordUpgrade) -> bool:
        if not isinstance(step, RecordUpgrade) or step.name in RECORD_UPGRADES:
            return True
        return conn.execute(select(runs.c.id).limit(1)).first() is None  # nothing to upgrade

    @staticmethod
    def _upgrade_records(conn: Any, step: RecordUpgrade) -> None:
        fn = RECORD_UPGRADES.get(step.name)
        if fn is None:
            return
        for run_id, body in conn.execute(select(runs.c.id, runs.c.record)).all():
            new = fn(json.loads(body))
            if new is not None:
                record = json.dumps(new, ensure_ascii=False)
                conn.execute(update(runs).where(runs.c.id == run_id).values(record=record))

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return max(r[0] for r in conn.execute(select(schema_migrations.c.version)))

    # -- generation cache ------------------------------------------------------------------------
    def get_generations(self, keys: Sequence[str]) -> dict[str, Completion]:
        found: dict[str, Completion] = {}
        keys = list(dict.fromkeys(keys))
        with self.engine.connect() as conn:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                rows = conn.execute(
                    select(generations.c.key, generations.c.completion).where(generations.c.key.in_(chunk))
                )
                for k, c in rows:
                    found[k] = Completion.model_validate_json(c)
        return found

    def get_prompt_texts(self, keys: Sequence[str]) -> dict[str, str]:
        """The exact prompt text (chat template applied) each cached generation was made from."""
        found: dict[str, str] = {}
        keys = list(dict.fromkeys(keys))
        with self.engine.connect() as conn:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                q = select(generations.c.key, generations.c.prompt_text).where(generations.c.key.in_(chunk))
                found.update({k: t for k, t in conn.execute(q)})
        return found

    def put_generations(self, items: Iterable[tuple[str, str, str, Completion]]) -> None:
        """(key, model_identity, prompt_text, completion); one transaction; existing keys kept."""
        rows = [
            {
                "key": k,
                "model_identity": mi,
                "prompt_text": pt,
                "completion": c.model_dump_json(),
                "created_at": now_iso(),
            }
            for k, mi, pt, c in items
        ]
        if not rows:
            return
        with self.engine.begin() as conn:
            existing = {
                r[0]
                for r in conn.execute(
                    select(generations.c.key).where(generations.c.key.in_([r["key"] for r in rows]))
                )
            }
            new = [r for r in rows if r["key"] not in existing]
            if new:  # another writer may have added a key since the check: keep its row
                conn.execute(_insert_ignore(self.engine.dialect.name, generations), new)

    # -- runs ------------------------------------------------------------------------------------
    def insert_run(self, record: RunRecord, config_key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(runs).values(**self._run_row(record), config_key=config_key))

    def _run_row(self, record: RunRecord) -> dict[str, Any]:
        return {
            "id": record.id,
            "suite": record.suite,
            "suite_version": record.suite_version,
            "suite_hash": record.suite_hash,
            "model": record.model.label,
            "prompt_name": record.prompt.name,
            "split": record.split,
            "status": record.status,
            "created_at": record.created_at,
            "finished_at": record.finished_at,
            "record": record.model_dump_json(),
        }

    def find_unfinished_run(self, config_key: str) -> RunRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(runs.c.record)
                .where(runs.c.config_key == config_key, runs.c.status == "running")
                .order_by(runs.c.created_at.desc())
                .limit(1)
            ).first()
        return RunRecord.model_validate_json(row[0]) if row else None

    def finish_run(self, record: RunRecord, results: Sequence[SampleResult]) -> None:
        """Write every sample, score and metric and mark the run finished, in one transaction: a
        run is either complete in the store or still 'running', never half-written."""
        with self.engine.begin() as conn:
            conn.execute(samples.delete().where(samples.c.run_id == record.id))
            conn.execute(scores.delete().where(scores.c.run_id == record.id))
            conn.execute(metrics.delete().where(metrics.c.run_id == record.id))
            if results:
                conn.execute(
                    insert(samples),
                    [
                        {
                            "run_id": record.id,
                            "sample_id": r.sample_id,
                            "idx": i,
                            "gen_key": (r.completion.raw or {}).get("_cache_key", ""),
                            "prompt": json.dumps(r.prompt, ensure_ascii=False),
                            "prompt_text": r.prompt_text,
                            "reference": r.reference,
                            "completion": r.completion.model_dump_json(),
                        }
                        for i, r in enumerate(results)
                    ],
                )
                score_rows = [
                    {
                        "run_id": record.id,
                        "sample_id": r.sample_id,
                        "name": s.name,
                        "value": None if s.value is None else float(s.value),
                        "detail": s.detail,
                        "data": json.dumps(s.data, ensure_ascii=False),
                    }
                    for r in results
                    for s in r.scores
                ]
                if score_rows:
                    conn.execute(insert(scores), score_rows)
            if record.metrics:
                conn.execute(
                    insert(metrics),
                    [
                        {
                            "run_id": record.id,
                            "name": k,
                            "value": m.value,
                            "ci_low": m.ci_low,
                            "ci_high": m.ci_high,
                            "n": m.n,
                        }
                        for k, m in record.metrics.items()
                    ],
                )
            row = self._run_row(record)
            row.pop("id")
            conn.execute(update(runs).where(runs.c.id == record.id).values(**row))

    def update_run(self, record: RunRecord) -> None:
        with self.engine.begin() as conn:
            row = self._run_row(record)
            row.pop("id")
            conn.execute(update(runs).where(runs.c.id == record.id).values(**row))

    def get_run(self, run_id: str) -> RunRecord:
        from ..errors import InputError

        with self.engine.connect() as conn:
            row = conn.execute(select(runs.c.record).where(runs.c.id == run_id)).first()
            if row is None:
                rows = conn.execute(select(runs.c.record).where(runs.c.id.like(f"{run_id}%"))).all()
                if len(rows) == 1:
                    row = rows[0]
                elif len(rows) > 1:
                    raise InputError(f"run id prefix {run_id!r} is ambiguous ({len(rows)} runs)")
        if row is None:
            raise InputError(f"no run {run_id!r} in {self.url}", hint="`tunebench runs` lists stored runs")
        return RunRecord.model_validate_json(row[0])

    def list_runs(
        self,
        *,
        suite: str | None = None,
        model: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        q = select(runs.c.record).order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit)
        if suite:
            q = q.where(runs.c.suite == suite)
        if model:
            q = q.where(runs.c.model.contains(model))
        if status:
            q = q.where(runs.c.status == status)
        with self.engine.connect() as conn:
            return [RunRecord.model_validate_json(r[0]) for r in conn.execute(q)]

    def iter_results(
        self, run_id: str, batch: int = 1000, sample_ids: Collection[str] | None = None
    ) -> Iterator[SampleResult]:
        """Sample results in run order, streamed in batches (never all completions at once): each
        query fetches at most `batch` samples. With `sample_ids`, only those samples are read."""
        wanted = None if sample_ids is None else list(dict.fromkeys(sample_ids))
        if wanted is not None and not wanted:
            return
        last = -1
        while True:
            with self.engine.connect() as conn:
                q = select(samples).where(samples.c.run_id == run_id, samples.c.idx > last)
                if wanted is not None:
                    q = q.where(samples.c.sample_id.in_(wanted))
                rows = conn.execute(q.order_by(samples.c.idx).limit(batch)).mappings().all()
                if not rows:
                    return
                ids = [r["sample_id"] for r in rows]
                sc: dict[str, list[Score]] = {}
                for s in conn.execute(
                    select(scores).where(scores.c.run_id == run_id, scores.c.sample_id.in_(ids))
                ).mappings():
                    sc.setdefault(s["sample_id"], []).append(
                        Score(
                            name=s["name"], value=s["value"], detail=s["detail"], data=json.loads(s["data"])
                        )
                    )
            for r in rows:
                yield SampleResult(
                    run_id=run_id,
                    sample_id=r["sample_id"],
                    prompt=json.loads(r["prompt"]),
                    prompt_text=r["prompt_text"],
                    reference=r["reference"],
                    completion=Completion.model_validate_json(r["completion"]),
                    scores=sc.get(r["sample_id"], []),
                )
            last = rows[-1]["idx"]

    def score_table(self, run_id: str, prefixes: Sequence[str] | None = None) -> dict[str, dict[str, Score]]:
        """sample_id -> score name -> Score, without completions. With `prefixes`, only scores named
        PREFIX or PREFIX.something (one scorer's rows)."""
        out: dict[str, dict[str, Score]] = {}
        seen: dict[str, Any] = {}
        q = select(scores).where(scores.c.run_id == run_id)
        if prefixes is not None:
            if not prefixes:
                return out
            q = q.where(
                or_(
                    *[
                        or_(scores.c.name == p, scores.c.name.startswith(p + ".", autoescape=True))
                        for p in prefixes
                    ]
                )
            )
        with self.engine.connect() as conn:
            for sid, name, value, detail, data in conn.execute(
                q.with_only_columns(
                    scores.c.sample_id, scores.c.name, scores.c.value, scores.c.detail, scores.c.data
                )
            ).cursor.fetchall():
                # rows were validated when written: construct without validating again; the same
                # data text (e.g. {"pred": "refund", "gold": "refund"}) is parsed once
                parsed = seen.get(data)
                if parsed is None:
                    parsed = seen[data] = json.loads(data)
                out.setdefault(sid, {})[name] = Score.model_construct(
                    name=name, value=value, detail=detail, data=dict(parsed)
                )
        return out

    def score_rows(self, run_id: str, prefixes: Sequence[str]) -> dict[str, list[ScoreRow]]:
        """sample_id -> that sample's scores named PREFIX or PREFIX.something, as light ScoreRow
        tuples (what corpus-level statistics read from 100,000 samples without building a pydantic
        Score for each)."""
        out: dict[str, list[ScoreRow]] = {}
        if not prefixes:
            return out
        seen: dict[str, Any] = {}
        cond = or_(
            *[or_(scores.c.name == p, scores.c.name.startswith(p + ".", autoescape=True)) for p in prefixes]
        )
        q = select(scores.c.sample_id, scores.c.name, scores.c.value, scores.c.detail, scores.c.data).where(
            scores.c.run_id == run_id, cond
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).cursor.fetchall()
        exact = tuple(prefixes)
        dotted = tuple(p + "." for p in prefixes)
        for sid, name, value, detail, data in rows:
            if name not in exact and not name.startswith(dotted):  # LIKE ignores case
                continue
            parsed = seen.get(data)
            if parsed is None:
                parsed = seen[data] = json.loads(data)
            out.setdefault(sid, []).append(ScoreRow(name, value, detail, parsed))
        return out

    def score_values(self, run_id: str, sample_ids: Sequence[str]) -> dict[str, Any]:
        """score name -> float64 array of its values aligned with `sample_ids` (NaN where a sample
        has no such score or its value is None). One query of (sample, name, value): no details, data
        or completions, so 100,000 samples load in about a second."""
        import numpy as np

        n = len(sample_ids)
        q = select(scores.c.sample_id, scores.c.name, scores.c.value).where(scores.c.run_id == run_id)
        with self.engine.connect() as conn:
            # the DBAPI rows directly: SQLAlchemy's Row objects cost more than the query here
            rows = conn.execute(q).cursor.fetchall()
        if not rows:
            return {}
        from itertools import count, repeat

        table = np.array(rows, dtype=object)  # (rows, 3); column-wise from here on
        del rows
        pos = {sid: i for i, sid in enumerate(sample_ids)}
        m = table.shape[0]
        at = np.fromiter(map(pos.get, table[:, 0], repeat(-1)), dtype=np.intp, count=m)
        codes: dict[str, int] = {}
        # a name's code is the row number where it first appears (unique; setdefault keeps it)
        name_code = np.fromiter(map(codes.setdefault, table[:, 1], count()), dtype=np.intp, count=m)
        vals = table[:, 2].astype(np.float64)  # None -> NaN
        keep = at >= 0
        cols: dict[str, Any] = {}
        for name, c in codes.items():
            sel = keep & (name_code == c)
            col = np.full(n, np.nan)
            col[at[sel]] = vals[sel]
            cols[name] = col
        return cols

    def sample_ids(self, run_id: str) -> list[str]:
        with self.engine.connect() as conn:
            return [
                r[0]
                for r in conn.execute(
                    select(samples.c.sample_id).where(samples.c.run_id == run_id).order_by(samples.c.idx)
                )
            ]

    # -- other records ---------------------------------------------------------------------------
    def put_record(self, kind: str, rec_id: str, body: dict[str, Any], ref: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(records).values(
                    id=rec_id,
                    kind=kind,
                    created_at=now_iso(),
                    ref=ref,
                    body=json.dumps(body, ensure_ascii=False, default=str),
                )
            )

    def get_records(self, kind: str, ref: str | None = None) -> list[dict[str, Any]]:
        q = select(records).where(records.c.kind == kind).order_by(records.c.created_at)
        if ref is not None:
            q = q.where(records.c.ref == ref)
        with self.engine.connect() as conn:
            return [{**dict(r), "body": json.loads(r["body"])} for r in conn.execute(q).mappings()]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                t.name: conn.execute(text(f"SELECT COUNT(*) FROM {t.name}")).scalar_one()
                for t in (runs, generations, samples, scores, metrics, records)
            }

    # -- judge calls (harness/judge) -------------------------------------------------------------
    def get_judge_calls(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """key -> judge_calls row (params, prompt, replies and parsed decoded from JSON)."""
        found: dict[str, dict[str, Any]] = {}
        keys = list(dict.fromkeys(keys))
        with self.engine.connect() as conn:
            for i in range(0, len(keys), 500):
                q = select(judge_calls).where(judge_calls.c.key.in_(keys[i : i + 500]))
                for r in conn.execute(q).mappings():
                    row = dict(r)
                    for col in ("params", "prompt", "replies", "parsed"):
                        row[col] = None if row[col] is None else json.loads(row[col])
                    found[row["key"]] = row
        return found

    def put_judge_calls(self, rows: Iterable[dict[str, Any]]) -> None:
        """Insert judge calls (one transaction). A key already stored with a verdict is kept; a key
        stored with an error is replaced (errors are retried, never served from the cache)."""
        prepared = []
        for row in rows:
            r = dict(row)
            for col in ("params", "prompt", "replies", "parsed"):
                if r.get(col) is not None:
                    r[col] = json.dumps(r[col], ensure_ascii=False, default=str)
            r.setdefault("created_at", now_iso())
            prepared.append(r)
        if not prepared:
            return
        with self.engine.begin() as conn:
            keys = [r["key"] for r in prepared]
            existing = {
                k: err
                for k, err in conn.execute(
                    select(judge_calls.c.key, judge_calls.c.error).where(judge_calls.c.key.in_(keys))
                )
            }
            stale = [k for k, err in existing.items() if err is not None]
            if stale:
                conn.execute(judge_calls.delete().where(judge_calls.c.key.in_(stale)))
            new = [r for r in prepared if r["key"] not in existing or r["key"] in stale]
            if new:
                conn.execute(_insert_ignore(self.engine.dialect.name, judge_calls), new)

    def has_table(self, name: str) -> bool:
        from sqlalchemy import inspect as sa_inspect

        return bool(sa_inspect(self.engine).has_table(name))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")  # first: switching to WAL may wait for a lock
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _insert_ignore(dialect: str, table: Table) -> Any:
    """INSERT that skips rows whose primary key exists (concurrent writers of the same key)."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    return insert(table)


def metric_values(record: RunRecord) -> dict[str, MetricValue]:
    return dict(record.metrics)


def new_run_id() -> str:
    import secrets

    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
