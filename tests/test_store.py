"""The store: WAL mode, append-only migrations, streamed results, concurrent writers. Every test
but the SQLite-only WAL check runs on SQLite and on PostgreSQL (the `store_url` fixture)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Table, create_engine, insert, inspect, text

from harness.store import MIGRATIONS, Store, new_run_id, now_iso, schema_migrations
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


def test_migrations_recorded_and_idempotent(store_url: str) -> None:
    """Opening the same URL again (an existing, migrated database) applies nothing twice."""
    latest = max(v for v, _ in MIGRATIONS)
    s1 = Store(store_url)
    assert s1.schema_version() == latest
    Store(store_url)
    s3 = Store(store_url)
    with s3.engine.connect() as conn:
        versions = [
            r[0] for r in conn.execute(text("SELECT version FROM schema_migrations ORDER BY version"))
        ]
    assert versions == [v for v, _ in MIGRATIONS]
    assert s3.counts() == {"runs": 0, "generations": 0, "samples": 0, "scores": 0, "metrics": 0, "records": 0}


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _versions(url: str) -> list[tuple[int, str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            q = text("SELECT version, applied_at FROM schema_migrations ORDER BY version")
            return [(int(v), str(a)) for v, a in conn.execute(q)]
    finally:
        engine.dispose()


@pytest.mark.parametrize("old_version", [1, MIGRATIONS[-2][0]])
def test_old_database_gets_new_migrations(store_url: str, old_version: int) -> None:
    """A database written by a release that knew migrations up to `old_version` gets the rest on open."""
    engine = create_engine(store_url)
    with engine.begin() as conn:
        schema_migrations.create(conn)
        for version, tables in MIGRATIONS:
            if version > old_version:
                break
            for t in tables:
                if isinstance(t, Table):  # a record upgrade has nothing to do on an empty store
                    t.create(conn)
            conn.execute(
                insert(schema_migrations).values(version=version, applied_at="2024-01-01T00:00:00+00:00")
            )
    engine.dispose()
    newer = {t.name for v, ts in MIGRATIONS if v > old_version for t in ts if isinstance(t, Table)}
    assert newer and not newer & _tables(store_url)

    store = Store(store_url)
    latest = MIGRATIONS[-1][0]
    assert store.schema_version() == latest
    rows = _versions(store_url)
    assert newer <= _tables(store_url)
    assert [v for v, _ in rows] == [v for v, _ in MIGRATIONS]
    assert all(a.startswith("2024-01-01") for v, a in rows if v <= old_version)
    assert not any(a.startswith("2024-01-01") for v, a in rows if v > old_version)
    store.put_record("note", "n1", {"x": 1}, ref="r")
    assert store.get_records("note", ref="r")[0]["body"] == {"x": 1}
    store.engine.dispose()
    assert Store(store_url).schema_version() == latest  # and once more: nothing left to apply


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


def test_iter_results_streams_in_batches(store: Store) -> None:
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


def test_finish_run_replaces_partial_rows(store: Store) -> None:
    rec = make_run(store, 5)
    store.finish_run(rec, [])  # a re-finish never duplicates rows
    assert store.counts()["samples"] == 0
    assert store.counts()["runs"] == 1


def test_two_stores_write_generations_concurrently(store_url: str) -> None:
    n_threads, per_thread, batch = 2, 200, 10
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads, timeout=60)

    def writer(t: int) -> None:
        try:
            store = Store(store_url)  # its own engine and connections
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
    store = Store(store_url)
    assert store.counts()["generations"] == n_threads * per_thread + per_thread // batch
    keys = [f"t{t}-{i}" for t in range(n_threads) for i in range(per_thread)]
    got = store.get_generations(keys)
    assert len(got) == len(keys)
    assert got["t1-199"].text == "1:199"


def test_concurrent_first_open(store_url: str) -> None:
    """Several processes (here threads) opening a new store at once: one migrates, none fails."""
    errors: list[BaseException] = []
    start = threading.Barrier(4, timeout=60)

    def opener() -> None:
        try:
            start.wait()
            Store(store_url)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    assert [v for v, _ in _versions(store_url)] == [v for v, _ in MIGRATIONS]


def test_long_identifiers_fit_both_stores(store: Store) -> None:
    """SQLite ignores VARCHAR lengths; PostgreSQL would refuse a 300-character sample id or a long
    model path: the store keeps what one accepts acceptable to the other."""
    long_id, long_path = "s" * 300, "/models/" + "deep/" * 300 + "base"
    rec = RunRecord(
        id=new_run_id(),
        suite="s" * 250,
        suite_version="1",
        suite_hash="h" * 64,
        model=ModelSpec(backend="mock", base=long_path, raw=f"mock:{long_path}"),
        prompt=PromptConfig(),
        split="test",
        n_samples=1,
        created_at=now_iso(),
    )
    store.insert_run(rec, config_key="k" * 64)
    result = SampleResult(
        run_id=rec.id,
        sample_id=long_id,
        prompt=[{"role": "user", "content": "q"}],
        prompt_text="q",
        completion=Completion(text="a"),
        reference="a",
        scores=[Score(name="n" * 250, value=1.0)],
    )
    store.finish_run(rec.model_copy(update={"status": "completed"}), [result])
    assert store.sample_ids(rec.id) == [long_id]
    assert store.list_runs(model=long_path[-40:])[0].id == rec.id
    store.put_record("baseline", "b1", {"x": 1}, ref="r" * 400)
    assert store.get_records("baseline", ref="r" * 400)[0]["body"] == {"x": 1}
