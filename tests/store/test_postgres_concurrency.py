"""Concurrency on a PostgreSQL store: four raters rating one campaign at once, and two nightly workers
started on the same plan and date at once (the pass lease holds: every item runs once). Nothing lost,
nothing duplicated. Each worker has its own Store (its own engine and connections), as separate
processes would."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from harness.models import parse_spec
from harness.ratings import SCALES, create_campaign, next_item, progress, save_rating
from harness.registry_models import bless
from harness.runner import run_suite
from harness.store import Store, locks, nightly_items, ratings, records, runs
from harness.suite import load_suite

try:
    from harness.nightly import Lease, LockHeld, load_plan, run_nightly
except ImportError:  # before the nightly package exists
    from harness.schedule import Lease, LockHeld, load_plan, run_nightly

POSTGRES = pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
N = 12
LABELS = ["billing", "technical", "shipping"]


def run_threads(target: Callable[[int], Any], n: int) -> list[Any]:
    """Run target(0..n-1) in n threads started together; re-raise the first error."""
    start = threading.Barrier(n, timeout=60)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            start.wait()
            results[i] = target(i)
        except BaseException as e:  # noqa: BLE001 - re-raised by the main thread
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    if errors:
        raise errors[0]
    return results


def count(store: Store, table: Any, *where: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


# --------------------------------------------------------------------------- raters


@POSTGRES
def test_four_raters_at_once_lose_and_duplicate_nothing(
    store_url: str, tmp_path: Path, workspace: Path, make_suite: Any
) -> None:
    suite = load_suite(make_suite(tmp_path / "rate-suite", n=N))
    store = Store(store_url)
    run_ids = []
    for tag in ("x", "y", "z"):
        script = tmp_path / f"{tag}.yaml"
        rules = [{"contains": f"ticket test {i}:", "reply": f"reply-{tag}-{i}"} for i in range(N)]
        script.write_text(yaml.safe_dump({"default": "?", "rules": rules}))
        run_ids.append(run_suite(suite, parse_spec(f"mock:{script}"), store=store, progress=False).id)
    made = create_campaign(store, run_ids, n=8)  # 3 pairs x 8 samples = 24 items, all shared
    cid, tok = made.campaign.id, made.rater_token
    n_items = made.campaign.n_items
    assert n_items == 24
    names = ["ann", "bob", "cy", "dee"]
    full = {"1": dict.fromkeys(SCALES, 4), "2": dict.fromkeys(SCALES, 2)}

    def rate(i: int) -> tuple[int, int]:
        own = Store(store_url)  # its own engine, as another rater-app process would have
        saved = doubles = 0
        try:
            while (it := next_item(own, cid, tok, names[i])) is not None:
                assert save_rating(own, cid, tok, names[i], it.token, "1" if saved % 2 else "2", full)
                saved += 1
                # a double submit (a second browser tab) stores nothing
                doubles += not save_rating(own, cid, tok, names[i], it.token, "tie", full)
        finally:
            own.engine.dispose()
        return saved, doubles

    done = run_threads(rate, len(names))
    assert done == [(n_items, n_items)] * len(names)
    with store.engine.connect() as conn:
        rows = conn.execute(select(ratings.c.rater, ratings.c.item).where(ratings.c.campaign_id == cid)).all()
    assert len(rows) == len(names) * n_items  # nothing lost
    assert len(set(rows)) == len(rows)  # nothing duplicated
    assert sorted({r for r, _ in rows}) == names
    assert all(progress(store, cid, tok, n).remaining == 0 for n in names)


# --------------------------------------------------------------------------- nightly workers

SUITE_YAML = """\
name: NAME
version: "1.0.0"
description: nightly concurrency
dataset:
  path: data/{split}.jsonl
  splits: [test]
expects_json: true
primary_metric: category
prompt:
  name: plain
  template: "{input}"
generation:
  max_new_tokens: 16
scorers:
  - {name: category, type: json_field_match, args: {field: category}}
"""


def write_suite(root: Path, name: str) -> None:
    (root / "data").mkdir(parents=True)
    (root / "suite.yaml").write_text(SUITE_YAML.replace("NAME", name))
    rows = [
        {
            "id": f"s{i:02d}",
            "messages": [
                {"role": "user", "content": f"[{name} s{i:02d}] a question about {LABELS[i % 3]}"},
                {"role": "assistant", "content": json.dumps({"category": LABELS[i % 3]})},
            ],
        }
        for i in range(N)
    ]
    (root / "data" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_script(path: Path, suites: tuple[str, ...], **extra: Any) -> None:
    rules = [
        {"contains": f"[{s} s{i:02d}]", "reply": json.dumps({"category": LABELS[i % 3]})}
        for s in suites
        for i in range(N)
    ]
    path.write_text(yaml.safe_dump({"default": "?", "rules": rules, **extra}))


@POSTGRES
def test_two_nightly_workers_on_one_plan_and_date_run_each_item_once(
    store_url: str, tmp_path: Path, workspace: Path
) -> None:
    suites = ("suite-a", "suite-b")
    store = Store(store_url)
    for s in suites:
        write_suite(tmp_path / s, s)
    write_script(tmp_path / "base.yaml", suites)
    log = tmp_path / "calls.log"
    write_script(tmp_path / "cand.yaml", suites, delay_s=0.02, log=str(log))
    for s in suites:
        rec = run_suite(load_suite(tmp_path / s), parse_spec(f"mock:{tmp_path / 'base.yaml'}"), store=store)
        bless(store, rec.id, name="base")
    (tmp_path / "policy.yaml").write_text(
        "name: p\nmin_samples: 5\nrules:\n  - {suite: suite-a, metric: category, rule: non_inferior, margin: 0.05}\n"
    )
    plan = {
        "name": "pg-night",
        "models": [{"name": "cand", "spec": "mock:cand.yaml", "baseline": "blessed"}],
        "suites": [f"./{s}" for s in suites],
        "policy": "policy.yaml",
        "schedule": {"cron": "0 2 * * *", "timezone": "UTC"},
    }
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    date = "2026-04-01"

    def worker(i: int) -> Any:
        own = Store(store_url)
        try:  # the second worker waits for the first one's lease, then finds every item done
            return run_nightly(load_plan(tmp_path / "plan.yaml"), own, date=date, lock_wait_s=120)
        finally:
            own.engine.dispose()

    results = run_threads(worker, 2)
    assert [r.exit_code for r in results] == [0, 0] and {r.status for r in results} == {"complete"}
    ran = sorted(r.counts["ran"] for r in results)
    assert ran == [0, len(suites)]  # one worker made every run; the other reused them all
    assert sorted(r.counts["reused"] for r in results) == [0, len(suites)]

    asked = log.read_text().splitlines()
    assert len(asked) == len(suites) * N and len(set(asked)) == len(asked)  # every prompt asked once
    with store.engine.connect() as conn:
        items = conn.execute(select(nightly_items.c.status, nightly_items.c.run_id)).all()
    assert len(items) == len(suites) and {st for st, _ in items} == {"done"}
    assert count(store, runs, runs.c.record.contains('"nightly":"pg-night"')) == len(suites)
    assert count(store, records, records.c.kind == "nightly") == 1
    assert count(store, locks) == 0  # both leases released

    # a third worker that will not wait is refused while a pass holds the lease
    holder = Lease(store, "nightly:pg-night", owner="elsewhere:1:x")
    assert holder.acquire()
    try:
        with pytest.raises(LockHeld):
            run_nightly(load_plan(tmp_path / "plan.yaml"), store, date=date)
    finally:
        holder.release()
