"""Blinded human rating campaigns: creating them, blinding and ordering the items, saving ratings.

Campaigns
---------
`create_campaign(store, runs, n=50, seed=0, gold=None, overlap=1.0)` takes two or more completed
runs of one suite version (same split and sample ids, `compare.check_comparable` against the first
run), draws `n` sample ids (seeded; samples where any run's generation failed are left out) and
makes one item per (sample, pair of runs) for every pair of runs: `n * k(k-1)/2` items for k runs.
Each item is named by an opaque random token and holds the input (the shortest last user message
among the runs' prompts, i.e. the one with the least template around it) and both outputs. Which
run is which stays in the store (`rating_items.run_a/run_b`); nothing the rater app receives names
it.

`overlap` is the share of pair items every rater rates (the "shared" items that inter-rater
agreement is computed on, chosen seeded); the remaining items are each meant for one rater: a rater
is offered an exclusive item only while nobody else has rated it (two raters who open the same
exclusive item at the same moment may both rate it; nothing is lost, it simply overlaps).

Gold items (`--gold FILE`) are attention checks mixed into every rater's sequence. FILE is JSONL,
one object per line: `{"input": str, "better": str, "worse": str}` (optional "id"). `better` is an
output that any attentive rater prefers to `worse` (e.g. a correct answer against an off-topic or
broken one). A gold item looks exactly like a pair item to the rater. A rater answers a gold item
correctly only by picking the better output (tie and both bad count as wrong).

Creating a campaign returns a rater token (given to raters: it opens the rater app) and an admin
token (needed for results); the store keeps only their sha256.

Rating (the rater app, dashboard/rate_app.py)
---------------------------------------------
`login(store, token, rater, campaign_id=None)` checks the token and returns the campaign id.
`next_item(store, campaign_id, token, rater)` returns the rater's next unrated item as a
`BlindItem` (item token, input, "Output 1", "Output 2", position) or None when done: the position
is derived from the stored ratings, so a reload resumes where the rater left off. Each rater sees
the items in their own seeded order (sha256 of a per-campaign secret salt, the seed, the rater and
the item token). Which run is shown as "Output 1" is decided the same way, per (rater, item), from
another such hash (`output_order`); the salt never leaves the store, so a rater cannot reproduce
the mapping from the item token. `save_rating(store, campaign_id, token, rater, item_token, choice,
scores, comment)` recomputes that mapping at save time, turns the rater's choice ("1", "2", "tie",
"both_bad") and per-output scales into run terms and inserts one row in one transaction; the
unique key (campaign, rater, item) makes a double submit a no-op (returns False).

What the ratings say: `results`. The queries live in harness/store/human_ratings.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..store import Store, now_iso
from ..store import human_ratings as q
from ..store.human_ratings import PREFERENCES
from ..types import RunRecord, last_user_content
from .gold import load_gold

__all__ = [
    "CHOICES",
    "PREFERENCES",
    "SCALES",
    "BlindItem",
    "Campaign",
    "CampaignCreated",
    "Progress",
    "create_campaign",
    "get_campaign",
    "list_campaigns",
    "login",
    "next_item",
    "normalize_rater",
    "output_order",
    "progress",
    "run_label",
    "save_rating",
]

CHOICES = ("1", "2", "tie", "both_bad")
"""What a rater picks: Output 1, Output 2, tie, both bad. (PREFERENCES, in run terms: A = the
item's run_a, B = its run_b, tie, both_bad.)"""
SCALES = ("accuracy", "format", "tone", "completeness")
"""1-5 scales, rated for each output."""

# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Campaign:
    id: str
    created_at: str
    suite: str
    suite_version: str
    suite_hash: str
    split: str
    runs: list[str]
    labels: dict[str, str]
    seed: int
    overlap: float
    n_samples: int
    n_items: int
    n_gold: int
    notes: list[str]


@dataclass(frozen=True)
class CampaignCreated:
    campaign: Campaign
    rater_token: str
    admin_token: str


@dataclass(frozen=True)
class BlindItem:
    """What the rater app may show: nothing here names a run or a model."""

    token: str
    input: str
    output_1: str
    output_2: str
    position: int
    """1-based: the rater's number of stored ratings + 1."""
    remaining: int
    """items left for this rater, this one included."""


@dataclass(frozen=True)
class Progress:
    done: int
    remaining: int


def _sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def _hash_int(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()[:8], "big")


def normalize_rater(name: str) -> str:
    """Rater names compare case-insensitively with spaces collapsed: "Ann  Lee" is "ann lee"."""
    n = " ".join(str(name).split()).casefold()
    if not n:
        raise InputError("enter your name")
    if len(n) > 100:
        raise InputError("the name is too long (100 characters at most)")
    return n


# --------------------------------------------------------------------------- campaigns


def run_label(rec: RunRecord) -> str:
    return f"{rec.model.label} [{rec.prompt.name}]"


def create_campaign(
    store: Store,
    runs: Sequence[str],
    *,
    n: int = 50,
    seed: int = 0,
    gold: str | Path | None = None,
    overlap: float = 1.0,
) -> CampaignCreated:
    """A new campaign over every pair of `runs` (ids or unique prefixes); see the module docstring."""
    from ..compare import check_comparable

    if len(runs) < 2:
        raise InputError("a rating campaign needs two or more runs", hint="--runs RUN_A RUN_B [RUN_C ...]")
    if n < 1:
        raise InputError(f"--n must be >= 1, got {n}")
    if not 0.0 < overlap <= 1.0:
        raise InputError(
            f"--overlap must be in (0, 1], got {overlap}", hint="1.0: every rater rates every item"
        )
    recs = [store.get_run(r) for r in runs]
    ids = [r.id for r in recs]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise InputError(f"run(s) named more than once: {', '.join(dup)}")
    for other in recs[1:]:
        check_comparable(store, recs[0], other)
    gold_items = load_gold(gold) if gold is not None else []

    outputs: dict[str, dict[str, str]] = {}
    inputs: dict[str, str] = {}
    failed: set[str] = set()
    for rec in recs:
        texts: dict[str, str] = {}
        for r in store.iter_results(rec.id):
            if r.completion.error:
                failed.add(r.sample_id)
            texts[r.sample_id] = r.completion.text
            u = last_user_content(r.prompt)
            if r.sample_id not in inputs or len(u) < len(inputs[r.sample_id]):
                inputs[r.sample_id] = u
        outputs[rec.id] = texts
    sample_ids = [s for s in store.sample_ids(ids[0]) if s not in failed]
    notes = []
    if failed:
        notes.append(f"{len(failed)} sample(s) left out: a run has a generation error on them")
    if not sample_ids:
        raise InputError("no sample has an output from every run")
    rng = np.random.default_rng(seed)
    if n >= len(sample_ids):
        if n > len(sample_ids):
            notes.append(f"--n {n} is more than the {len(sample_ids)} samples available: all are used")
        chosen = list(sample_ids)
    else:
        pick = sorted(rng.choice(len(sample_ids), size=n, replace=False).tolist())
        chosen = [sample_ids[i] for i in pick]
    pairs = list(combinations(ids, 2))
    pair_items = [(sid, a, b) for sid in chosen for a, b in pairs]
    n_shared = max(1, round(overlap * len(pair_items))) if overlap < 1.0 else len(pair_items)
    shared = set(rng.permutation(len(pair_items))[:n_shared].tolist())

    cid = "rc-" + secrets.token_hex(4)
    rater_token = "rt-" + secrets.token_urlsafe(12)
    admin_token = "at-" + secrets.token_urlsafe(18)
    labels = {rec.id: run_label(rec) for rec in recs}
    body = {
        "labels": labels,
        "salt": secrets.token_hex(16),
        "n_samples": len(chosen),
        "n_items": len(pair_items),
        "n_gold": len(gold_items),
        "gold_file": str(gold) if gold is not None else None,
        "notes": notes,
    }
    rows: list[dict[str, Any]] = []
    for i, (sid, a, b) in enumerate(pair_items):
        rows.append(
            {
                "token": secrets.token_urlsafe(12),
                "campaign_id": cid,
                "idx": i,
                "kind": "pair",
                "shared": int(i in shared),
                "sample_id": sid,
                "run_a": a,
                "run_b": b,
                "input": inputs.get(sid, ""),
                "output_a": outputs[a].get(sid, ""),
                "output_b": outputs[b].get(sid, ""),
            }
        )
    for j, g in enumerate(gold_items):
        rows.append(
            {
                "token": secrets.token_urlsafe(12),
                "campaign_id": cid,
                "idx": len(pair_items) + j,
                "kind": "gold",
                "shared": 1,
                "sample_id": g["id"],
                "run_a": None,
                "run_b": None,
                "input": g["input"],
                "output_a": g["better"],
                "output_b": g["worse"],
            }
        )
    q.insert_campaign(
        store,
        {
            "id": cid,
            "created_at": now_iso(),
            "suite": recs[0].suite,
            "suite_version": recs[0].suite_version,
            "suite_hash": recs[0].suite_hash,
            "split": recs[0].split,
            "runs": json.dumps(ids),
            "seed": int(seed),
            "overlap": float(overlap),
            "rater_token_sha": _sha(rater_token),
            "admin_token_sha": _sha(admin_token),
            "body": json.dumps(body),
        },
        rows,
    )
    return CampaignCreated(get_campaign(store, cid), rater_token, admin_token)


def _campaign_row(store: Store, campaign_id: str) -> dict[str, Any]:
    row = q.campaign_row(store, campaign_id)
    if row is None:
        raise InputError(f"no rating campaign {campaign_id!r} in {store.url}", hint="`tunebench rate list`")
    return row


def _campaign(row: Mapping[str, Any]) -> Campaign:
    body = json.loads(row["body"])
    return Campaign(
        id=row["id"],
        created_at=row["created_at"],
        suite=row["suite"],
        suite_version=row["suite_version"],
        suite_hash=row["suite_hash"],
        split=row["split"],
        runs=json.loads(row["runs"]),
        labels=body.get("labels", {}),
        seed=row["seed"],
        overlap=row["overlap"],
        n_samples=body.get("n_samples", 0),
        n_items=body.get("n_items", 0),
        n_gold=body.get("n_gold", 0),
        notes=body.get("notes", []),
    )


def get_campaign(store: Store, campaign_id: str) -> Campaign:
    """The campaign's public description (no tokens, no salt)."""
    return _campaign(_campaign_row(store, campaign_id))


def admin_campaign(store: Store, campaign_id: str, admin_token: str) -> Campaign:
    """The campaign, for its admin: InputError unless `admin_token` is the campaign's admin token."""
    row = _campaign_row(store, campaign_id)
    _check_token(row, admin_token, "admin_token_sha", "admin")
    return _campaign(row)


def list_campaigns(store: Store) -> list[Campaign]:
    return [_campaign(r) for r in q.campaign_rows(store)]


def _check_token(row: Mapping[str, Any], token: str, column: str, what: str) -> None:
    if not hmac.compare_digest(_sha(str(token).strip()), row[column]):
        raise InputError(f"the {what} token does not match campaign {row['id']}")


# --------------------------------------------------------------------------- rating


def login(store: Store, token: str, rater: str, campaign_id: str | None = None) -> str:
    """Check a rater token (for `campaign_id` when given, else whichever campaign it opens) and
    the name; the campaign id. InputError with a message fit for the rater otherwise."""
    normalize_rater(rater)
    found = q.campaign_for_rater_token(store, _sha(str(token).strip()), campaign_id)
    if found is None:
        raise InputError("this token does not open a rating campaign here")
    return found


def output_order(salt: str, seed: int, rater: str, item_token: str) -> bool:
    """True when the item's run_a output is shown as "Output 1" to this rater."""
    return _hash_int("side", salt, seed, normalize_rater(rater), item_token) % 2 == 0


def _rater_context(store: Store, campaign_id: str, token: str, rater: str) -> tuple[dict[str, Any], str, str]:
    row = _campaign_row(store, campaign_id)
    _check_token(row, token, "rater_token_sha", "rater")
    body = json.loads(row["body"])
    return row, body["salt"], normalize_rater(rater)


def _queue(store: Store, row: Mapping[str, Any], salt: str, rater: str) -> tuple[list[dict[str, Any]], int]:
    """The rater's open items in their order, and how many they have rated."""
    items, rated = q.items_and_raters(store, row["id"])
    mine = {i for i, r in rated if r == rater}
    taken = {i for i, r in rated if r != rater}
    todo = [it for it in items if it["token"] not in mine and (it["shared"] or it["token"] not in taken)]
    todo.sort(key=lambda it: _hash_int("order", salt, row["seed"], rater, it["token"]))
    return todo, len(mine)


def next_item(store: Store, campaign_id: str, token: str, rater: str) -> BlindItem | None:
    """The rater's next item (blinded), or None when they have rated everything open to them."""
    row, salt, who = _rater_context(store, campaign_id, token, rater)
    todo, done = _queue(store, row, salt, who)
    if not todo:
        return None
    it = todo[0]
    a_first = output_order(salt, row["seed"], who, it["token"])
    o1, o2 = (it["output_a"], it["output_b"]) if a_first else (it["output_b"], it["output_a"])
    return BlindItem(it["token"], it["input"], o1, o2, position=done + 1, remaining=len(todo))


def progress(store: Store, campaign_id: str, token: str, rater: str) -> Progress:
    row, salt, who = _rater_context(store, campaign_id, token, rater)
    todo, done = _queue(store, row, salt, who)
    return Progress(done, len(todo))


def save_rating(
    store: Store,
    campaign_id: str,
    token: str,
    rater: str,
    item_token: str,
    choice: str,
    scores: Mapping[str, Mapping[str, int | None]] | None = None,
    comment: str = "",
) -> bool:
    """Store one rating in one transaction; True if stored, False if this rater had already rated
    the item (a double submit). `choice` is "1", "2", "tie" or "both_bad" as the rater saw it;
    `scores` maps "1"/"2" to {scale: 1-5}. Output 1/2 are mapped back to the item's runs here,
    from the same seeded hash that ordered them for display."""
    row, salt, who = _rater_context(store, campaign_id, token, rater)
    if choice not in CHOICES:
        raise InputError(f"choice must be one of {', '.join(CHOICES)}, got {choice!r}")
    it = q.campaign_item(store, campaign_id, item_token)
    if it is None:
        raise InputError("unknown item")
    a_first = output_order(salt, row["seed"], who, item_token)
    side = {"1": "A" if a_first else "B", "2": "B" if a_first else "A"}
    pref = side.get(choice, choice)
    values: dict[str, Any] = {}
    for shown, sc in (scores or {}).items():
        if shown not in side:
            raise InputError(f"scores are keyed by output '1' or '2', got {shown!r}")
        for scale, v in sc.items():
            if scale not in SCALES:
                raise InputError(f"unknown scale {scale!r}; scales: {', '.join(SCALES)}")
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5):
                raise InputError(f"{scale} must be an integer from 1 to 5, got {v!r}")
            values[f"{side[shown].lower()}_{scale}"] = v
    rec = {
        "campaign_id": campaign_id,
        "rater": who,
        "item": item_token,
        "kind": it["kind"],
        "sample_id": it["sample_id"],
        "run_a": it["run_a"],
        "run_b": it["run_b"],
        "preference": pref,
        "first": "A" if a_first else "B",
        "comment": str(comment or "")[:5000],
        "created_at": now_iso(),
        **values,
    }
    return q.insert_rating(store, rec)
