"""The store: WAL mode, append-only migrations, streamed results, concurrent writers."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text

from harness.store import MIGRATIONS, Store, new_run_id, now_iso
from harness.types import Completion, ModelSpec, PromptConfig, RunRecord, SampleResult, Score


def db_path(ws: Path) -> Path:
    return ws / "tunebench.db"


def test_wal_mode(workspace: Path) -> None:
    store = Store()
    assert store.url == f"sqlite:///{db_path(workspace)}"
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() == 30000
    with sqlite3.connect(db_path(workspace)) as raw:  # persisted in the file, not just per connection
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrations_recorded_and_idempotent(workspace: Path) -> None:
    latest = max(v for v, _ in MIGRATIONS)
    s1 = Store()
    assert s1.schema_version() == latest
    Store()
    s3 = Store(workspace=workspace)
    with s3.engine.connect() as conn:
        versions = [
            r[0] for r in conn.execute(text("SELECT version FROM schema_migrations ORDER BY version"))
        ]
    assert versions == [v for v, _ in MIGRATIONS]
    assert s3.counts() == {"runs": 0, "generations": 0, "samples": 0, "scores": 0, "metrics": 0, "records": 0}


def test_old_database_gets_new_migrations(tmp_path: Path) -> None:
    """A database written by a release that knew only migration 1 gets migration 2 on open."""
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    from sqlalchemy import create_engine, insert

    from harness.store import schema_migrations

    engine = create_engine(url)
    with engine.begin() as conn:
        schema_migrations.create(conn)
        for t in MIGRATIONS[0][1]:
            t.create(conn)
        conn.execute(insert(schema_migrations).values(version=1, applied_at="2024-01-01T00:00:00+00:00"))
    engine.dispose()
    with sqlite3.connect(path) as raw:
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "records" not in tables

    store = Store(url)
    latest = MIGRATIONS[-1][0]
    assert store.schema_version() == latest
    with sqlite3.connect(path) as raw:
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        rows = raw.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version").fetchall()
    assert "records" in tables
    assert [v for v, _ in rows] == [v for v, _ in MIGRATIONS] and rows[0][1].startswith("2024-01-01")
    store.put_record("note", "n1", {"x": 1}, ref="r")
    assert store.get_records("note", ref="r")[0]["body"] == {"x": 1}


def make_run(store: Store, n: int) -> RunRecord:
    rec = RunRecord(
        id=new_run_id(),
        suite="s",
        suite_version="1",
        suite_hash="h" * 64,
        model=ModelSpec(backend="mock", base="echo", raw="mock:echo"),
        prompt=PromptConfig(),
        split="test",
        n_samples=n,
        created_at=now_iso(),
    )
    store.insert_run(rec, config_key="k" * 64)
    results = [
        SampleResult(
            run_id=rec.id,
            sample_id=f"s{i}",
            prompt=[{"role": "user", "content": f"q{i}"}],
            prompt_text=f"q{i}",
            completion=Completion(text=f"a{i}"),
            reference=f"a{i}",
            scores=[Score(name="exact", value=float(i % 2)), Score(name="len", value=i, detail=f"d{i}")],
        )
        for i in range(n)
    ]
    done = rec.model_copy(update={"status": "completed", "finished_at": now_iso()})
    store.finish_run(done, results)
    return done


def test_iter_results_streams_in_batches(workspace: Path) -> None:
    store = Store()
    rec = make_run(store, 5)
    got = list(store.iter_results(rec.id, batch=2))
    assert [r.sample_id for r in got] == ["s0", "s1", "s2", "s3", "s4"]
    assert [r.completion.text for r in got] == ["a0", "a1", "a2", "a3", "a4"]
    assert {s.name: s.value for s in got[3].scores} == {"exact": 1.0, "len": 3.0}
    assert got[4].prompt == [{"role": "user", "content": "q4"}]
    assert list(store.iter_results(rec.id, batch=1000)) == got
    assert store.sample_ids(rec.id) == [f"s{i}" for i in range(5)]
    assert store.score_table(rec.id)["s2"]["len"].detail == "d2"
    assert store.get_run(rec.id[:-2]).status == "completed"  # unique prefix
    assert list(store.iter_results("no-such-run")) == []


def test_finish_run_replaces_partial_rows(workspace: Path) -> None:
    store = Store()
    rec = make_run(store, 5)
    store.finish_run(rec, [])  # a re-finish never duplicates rows
    assert store.counts()["samples"] == 0
    assert store.counts()["runs"] == 1


def test_two_stores_write_generations_concurrently(workspace: Path) -> None:
    n_threads, per_thread, batch = 2, 200, 10
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads, timeout=60)

    def writer(t: int) -> None:
        try:
            store = Store(workspace=workspace)  # its own engine and connections
            start.wait()
            for b in range(0, per_thread, batch):
                store.put_generations(
                    (f"t{t}-{i}", "ident", f"prompt {i}", Completion(text=f"{t}:{i}"))
                    for i in range(b, b + batch)
                )
                # overlapping keys: both threads also write the same shared keys
                store.put_generations([(f"shared-{b}", "ident", "p", Completion(text="shared"))])
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    store = Store()
    assert store.counts()["generations"] == n_threads * per_thread + per_thread // batch
    keys = [f"t{t}-{i}" for t in range(n_threads) for i in range(per_thread)]
    got = store.get_generations(keys)
    assert len(got) == len(keys)
    assert got["t1-199"].text == "1:199"


def test_concurrent_first_open(workspace: Path) -> None:
    """Several processes (here threads) opening a new store at once: one migrates, none fails."""
    errors: list[BaseException] = []
    start = threading.Barrier(4, timeout=60)

    def opener() -> None:
        try:
            start.wait()
            Store(workspace=workspace)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    with sqlite3.connect(db_path(workspace)) as raw:
        assert [r[0] for r in raw.execute("SELECT version FROM schema_migrations ORDER BY version")] == [v for v, _ in MIGRATIONS]
