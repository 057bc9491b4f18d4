"""Blinded human rating campaigns: creating them (items, tokens, invitations, scales).

Campaigns
---------
`create_campaign(store, runs, n=50, seed=0, gold=None, overlap=1.0, raters=None, scales=None,
show_reference=False)` takes two or more completed runs of one suite version (same split and sample
ids, `compare.check_comparable` against the first run), draws `n` sample ids (seeded; samples where
any run's generation failed are left out) and makes one item per (sample, pair of runs) for every
pair of runs: `n * k(k-1)/2` items for k runs. Each item is named by an opaque random token and
holds the input (the shortest last user message among the runs' prompts, i.e. the one with the
least template around it), the task's instruction (the longest system message among the runs'
prompts for that sample: the suite's system prompt, or the sample's own; a run fine-tuned on bare
inputs has none), the reference answer (shown to raters only with `show_reference`) and both
outputs. Which run is which stays in the store (`rating_items.run_a/run_b`); nothing the rater app
receives names it.

`overlap` is the share of pair items every rater rates (the "shared" items that inter-rater
agreement is computed on, chosen seeded); the remaining items are each meant for one rater: a rater
is offered an exclusive item only while nobody else has rated it. Two raters who open the same
exclusive item at the same moment both keep their rating: the later one is stored as an extra
rating of that item and its rater is told so (see harness/ratings/rating.py).

Gold items (`--gold FILE`) are attention checks mixed into every rater's sequence. FILE is JSONL,
one object per line: `{"input": str, "better": str, "worse": str}` (optional "id", "instruction",
"reference"; without them a gold item gets the campaign's most common instruction and `better` as
its reference, so that it looks like a pair item). A rater answers a gold item correctly only by
picking the better output (tie and both bad count as wrong).

Access. Without `raters`, the campaign has one shared rater token: whoever holds it rates under the
name they type (anyone can rate as anyone; kept for quick internal rounds). With `raters`
(`rate create --raters alice,bob`) every rater gets a personal token, handed out as a link
(`?t=TOKEN`): the rater's name comes from the token, never from what they type, and the shared
token opens nothing. Either way an admin token (needed for results) is made; the store keeps only
sha256 hashes of tokens.

Scales: `scales` (from `rate create --scales FILE`, harness/ratings/scales.py) or the four defaults.

Rating (next item, counterbalanced sides, saving): harness/ratings/rating.py. What the ratings say:
`results`. The queries live in harness/store/human_ratings.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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
from .scales import DEFAULT_SCALES, SCALES, Scale, scales_from_json, scales_to_json

__all__ = [
    "CHOICES",
    "PREFERENCES",
    "SCALES",
    "Campaign",
    "CampaignCreated",
    "admin_campaign",
    "create_campaign",
    "get_campaign",
    "list_campaigns",
    "normalize_rater",
    "run_label",
]

CHOICES = ("1", "2", "tie", "both_bad")
"""What a rater picks: Output 1, Output 2, tie, both bad. (PREFERENCES, in run terms: A = the
item's run_a, B = its run_b, tie, both_bad.)"""
ORDER_BALANCED = "balanced"
"""The side rule of campaigns made since sides are counterbalanced per rater (harness/ratings/rating.py);
campaigns without it in their body used a coin per (rater, item)."""

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
    scales: tuple[Scale, ...] = DEFAULT_SCALES
    show_reference: bool = False
    raters: list[str] = field(default_factory=list)
    """invited raters (personal links); empty: one shared token, raters type their name"""


@dataclass(frozen=True)
class CampaignCreated:
    campaign: Campaign
    rater_token: str | None
    """the shared rater token; None when raters are invited one by one (`invites`)"""
    admin_token: str
    invites: dict[str, str] = field(default_factory=dict)
    """invited rater (normalized name) -> their personal token"""


def _sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


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


def _invites(raters: Iterable[str] | None) -> list[str]:
    names = [normalize_rater(r) for r in (raters or [])]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"rater(s) named more than once: {', '.join(dup)}", hint="--raters alice,bob")
    return names


def _system_text(prompt: Iterable[Mapping[str, Any]]) -> str:
    return "\n\n".join(str(m.get("content") or "") for m in prompt if m.get("role") == "system").strip()


def create_campaign(
    store: Store,
    runs: Sequence[str],
    *,
    n: int = 50,
    seed: int = 0,
    gold: str | Path | None = None,
    overlap: float = 1.0,
    raters: Sequence[str] | None = None,
    scales: Sequence[Scale] | None = None,
    show_reference: bool = False,
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
    invited = _invites(raters)
    scale_list = tuple(scales) if scales else DEFAULT_SCALES
    if len({s.name for s in scale_list}) != len(scale_list):
        raise InputError("a scale is named twice")
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
    instructions: dict[str, str] = {}
    references: dict[str, str | None] = {}
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
            sys_text = _system_text(r.prompt)
            if len(sys_text) > len(instructions.get(r.sample_id, "")):
                instructions[r.sample_id] = sys_text
            if references.get(r.sample_id) is None:
                references[r.sample_id] = r.reference
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
    # with invitations the shared token is never handed out: only personal tokens open the campaign
    rater_token = "rt-" + secrets.token_urlsafe(12)
    admin_token = "at-" + secrets.token_urlsafe(18)
    invites = {name: "rk-" + secrets.token_urlsafe(16) for name in invited}
    labels = {rec.id: run_label(rec) for rec in recs}
    body = {
        "labels": labels,
        "salt": secrets.token_hex(16),
        "order": ORDER_BALANCED,
        "n_samples": len(chosen),
        "n_items": len(pair_items),
        "n_gold": len(gold_items),
        "gold_file": str(gold) if gold is not None else None,
        "notes": notes,
        "scales": scales_to_json(scale_list),
        "show_reference": bool(show_reference),
    }
    rows: list[dict[str, Any]] = []
    contexts: list[dict[str, Any]] = []
    for i, (sid, a, b) in enumerate(pair_items):
        tok = secrets.token_urlsafe(12)
        rows.append(
            {
                "token": tok,
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
        contexts.append(
            {
                "token": tok,
                "campaign_id": cid,
                "instruction": instructions.get(sid, ""),
                "reference": references.get(sid),
            }
        )
    common = Counter(instructions.get(sid, "") for sid in chosen).most_common(1)
    for j, g in enumerate(gold_items):
        tok = secrets.token_urlsafe(12)
        rows.append(
            {
                "token": tok,
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
        contexts.append(
            {
                "token": tok,
                "campaign_id": cid,
                "instruction": g.get("instruction", common[0][0] if common else ""),
                "reference": g.get("reference", g["better"]),
            }
        )
    now = now_iso()
    q.insert_campaign(
        store,
        {
            "id": cid,
            "created_at": now,
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
        contexts,
        [
            {"token_sha": _sha(t), "campaign_id": cid, "rater": name, "created_at": now}
            for name, t in invites.items()
        ],
    )
    return CampaignCreated(get_campaign(store, cid), None if invites else rater_token, admin_token, invites)


def campaign_row(store: Store, campaign_id: str) -> dict[str, Any]:
    """The stored campaign row (salt and token hashes included: never for a rater's eyes)."""
    row = q.campaign_row(store, campaign_id)
    if row is None:
        raise InputError(f"no rating campaign {campaign_id!r} in {store.url}", hint="`tunebench rate list`")
    return row


def _campaign(row: Mapping[str, Any], raters: list[str]) -> Campaign:
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
        scales=scales_from_json(body.get("scales")),
        show_reference=bool(body.get("show_reference", False)),
        raters=raters,
    )


def get_campaign(store: Store, campaign_id: str) -> Campaign:
    """The campaign's public description (no tokens, no salt)."""
    return _campaign(campaign_row(store, campaign_id), q.invited_raters(store, campaign_id))


def admin_campaign(store: Store, campaign_id: str, admin_token: str) -> Campaign:
    """The campaign, for its admin: InputError unless `admin_token` is the campaign's admin token."""
    row = campaign_row(store, campaign_id)
    check_token(row, admin_token, "admin_token_sha", "admin")
    return _campaign(row, q.invited_raters(store, campaign_id))


def list_campaigns(store: Store) -> list[Campaign]:
    return [_campaign(r, q.invited_raters(store, r["id"])) for r in q.campaign_rows(store)]


def token_sha(token: str) -> str:
    return _sha(str(token).strip())


def check_token(row: Mapping[str, Any], token: str, column: str, what: str) -> None:
    if not hmac.compare_digest(token_sha(token), row[column]):
        raise InputError(f"the {what} token does not match campaign {row['id']}")
