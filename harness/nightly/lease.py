"""Leases: passes of one plan never overlap, nor do two schedulers of it. A lease is a row in the
store's `locks` table (owner, expiry it extends while it runs); a lease of a dead process on this
host is taken over at once, others when they expire."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from ..errors import TunebenchError
from ..store import Store
from ..store.nightly import lease_extend, lease_holder, lease_insert, lease_release, lease_take_over

log = logging.getLogger("tunebench.schedule")


class LockHeld(TunebenchError):
    """Another process holds the lease (a scheduler or a pass of the same plan)."""


def _owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_dead(owner: str) -> bool:
    """True when `owner` is a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_s = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_s.isdigit():
        return False
    pid = int(pid_s)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Lease:
    """A named lease in the store's `locks` table: one owner at a time; the owner extends its expiry
    from a heartbeat thread; an expired lease, or one of a dead process on this host, is taken over."""

    def __init__(self, store: Store, name: str, *, ttl_s: float = 60.0, owner: str | None = None):
        self.store = store
        self.name = name
        self.ttl_s = ttl_s
        self.owner = owner or _owner_id()
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def holder(self) -> dict[str, Any] | None:
        return lease_holder(self.store, self.name)

    def _try(self) -> bool:
        now = time.time()
        row = self.holder()
        if row is None:
            return lease_insert(self.store, self.name, self.owner, now, self.ttl_s)
        if row["owner"] != self.owner and row["expires_at"] > now and not _owner_dead(row["owner"]):
            return False
        return lease_take_over(self.store, self.name, row["owner"], self.owner, now, self.ttl_s)

    def acquire(self, wait_s: float = 0.0, poll_s: float = 0.5) -> bool:
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            if self._try():
                self.lost = False
                self._stop.clear()
                self._thread = threading.Thread(target=self._beat, name=f"lease-{self.name}", daemon=True)
                self._thread.start()
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl_s / 4):
            try:
                held = lease_extend(self.store, self.name, self.owner, time.time() + self.ttl_s)
                if not held:
                    self.lost = True
                    log.error("lease %s was taken over by another process", self.name)
                    return
            except Exception as e:  # a busy store: try again at the next beat
                log.warning("lease %s: heartbeat failed: %s", self.name, e)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        lease_release(self.store, self.name, self.owner)

    def describe_holder(self) -> str:
        row = self.holder()
        if not row:
            return "nobody"
        since = datetime.fromtimestamp(row["acquired_at"], dt_timezone.utc).isoformat(timespec="seconds")
        return f"{row['owner']} since {since}"
