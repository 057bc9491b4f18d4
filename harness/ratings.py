"""Blinded human rating campaigns: pairs of run outputs rated by people, and what the ratings say.

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

Results (`campaign_results(store, campaign_id, admin_token)`, admin token required)
---------------------------------------------------------------------------------------
Gold items are left out of every statistic except gold accuracy.

* Win rate of run A against run B, per pair: (A wins + ties / 2) / (A wins + B wins + ties).
  "both bad" ratings are left out of the win rate and reported separately (count and share of the
  pair's ratings). 95% CI: percentile bootstrap over items (each resample draws items with
  replacement and keeps all ratings of a drawn item: a cluster bootstrap).
* Bradley-Terry strengths: P(i beats j) = p_i / (p_i + p_j), fitted by Hunter's (2004) MM algorithm
  on the win matrix (a tie is half a win for each side; both bad is left out), with `prior` = 0.1
  pseudo-wins added to every ordered pair so that an undefeated run keeps a finite strength.
  Reported as log-strength centred at mean 0 and as the expected win rate against a run of average
  strength (p_i / (p_i + 1) with p normalised to geometric mean 1); 95% CIs from refits on bootstrap
  resamples of the items.
* Inter-rater agreement on items rated by two or more raters: Krippendorff's alpha, nominal for the
  preference (in run terms: A, B, tie, both_bad), interval and ordinal for each 1-5 scale (a unit is
  one run's output on one item).
* Gold accuracy per rater: share of gold items answered with the better output; raters below
  `gold_threshold` (0.8) are flagged (`exclude_flagged=True` leaves their ratings out of the other
  statistics).
* Judge against humans: for each pair of campaign runs with a stored pairwise judgment (records of
  kind "judgment", ref "RUN_A..RUN_B" in either order, the latest one), Cohen's kappa between the
  judge's outcome (A, B, tie; errors skipped) and each human rating of the same sample (both bad read
  as tie), with raw agreement and n.

For the judge (harness/judge)
-----------------------------
`human_pairwise(store, run_a, run_b) -> list[{"sample_id": str, "preference": "A"|"B"|"tie"|"both_bad"}]`
returns every human rating (all campaigns, gold items excluded) of these two runs, one entry per
rating, with the preference oriented as run_a against run_b. The `ratings` table also has the
columns run_a, run_b, sample_id and preference in run terms (gold rows have run_a = run_b = NULL),
so `SELECT run_a, run_b, sample_id, preference FROM ratings` reads the same data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from . import stats
from .errors import InputError, Problem
from .fmt import num, table
from .judge.reliability import cohens_kappa  # one kappa for judge reports and rating results
from .store import Store, now_iso, rating_campaigns, rating_items, ratings, records
from .types import RunRecord

__all__ = [
    "CHOICES",
    "PREFERENCES",
    "SCALES",
    "BlindItem",
    "Campaign",
    "CampaignCreated",
    "CampaignResults",
    "Progress",
    "bradley_terry",
    "campaign_results",
    "cohens_kappa",
    "create_campaign",
    "get_campaign",
    "human_pairwise",
    "krippendorff_alpha",
    "list_campaigns",
    "load_gold",
    "login",
    "next_item",
    "output_order",
    "progress",
    "render_results",
    "save_rating",
    "win_rate_ci",
]

PREFERENCES = ("A", "B", "tie", "both_bad")
"""A preference in run terms: A = the item's run_a, B = its run_b."""
CHOICES = ("1", "2", "tie", "both_bad")
"""What a rater picks: Output 1, Output 2, tie, both bad."""
SCALES = ("accuracy", "format", "tone", "completeness")
"""1-5 scales, rated for each output."""
Level = Literal["nominal", "ordinal", "interval"]

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


# --------------------------------------------------------------------------- gold items


def load_gold(path: str | Path) -> list[dict[str, str]]:
    """Gold items from JSONL: one {"input", "better", "worse"} object per line (optional "id")."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"gold file {p}: {e}") from e
    items, problems = [], []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(Problem(str(p), i, f"not JSON: {e.msg}"))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(str(p), i, "expected an object"))
            continue
        bad = [
            k for k in ("input", "better", "worse") if not isinstance(obj.get(k), str) or not obj[k].strip()
        ]
        if bad:
            problems.append(Problem(str(p), i, f"needs non-empty string(s) {', '.join(bad)}"))
            continue
        if obj["better"] == obj["worse"]:
            problems.append(Problem(str(p), i, "better and worse are the same text"))
            continue
        items.append(
            {"id": str(obj.get("id", f"gold-{i}")), **{k: obj[k] for k in ("input", "better", "worse")}}
        )
    if problems:
        raise InputError(
            f"gold file {p} has {len(problems)} bad line(s)",
            problems,
            hint='each line: {"input": "...", "better": "...", "worse": "..."}',
        )
    if not items:
        raise InputError(f"gold file {p} has no items")
    return items


# --------------------------------------------------------------------------- campaigns


def run_label(rec: RunRecord) -> str:
    return f"{rec.model.label} [{rec.prompt.name}]"


def _last_user(prompt: Sequence[Mapping[str, str]]) -> str:
    return next((str(m.get("content", "")) for m in reversed(prompt) if m.get("role") == "user"), "")


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
    from .compare import check_comparable

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
            u = _last_user(r.prompt)
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
    with store.engine.begin() as conn:
        conn.execute(
            insert(rating_campaigns).values(
                id=cid,
                created_at=now_iso(),
                suite=recs[0].suite,
                suite_version=recs[0].suite_version,
                suite_hash=recs[0].suite_hash,
                split=recs[0].split,
                runs=json.dumps(ids),
                seed=int(seed),
                overlap=float(overlap),
                rater_token_sha=_sha(rater_token),
                admin_token_sha=_sha(admin_token),
                body=json.dumps(body),
            )
        )
        conn.execute(insert(rating_items), rows)
    return CampaignCreated(get_campaign(store, cid), rater_token, admin_token)


def _campaign_row(store: Store, campaign_id: str) -> dict[str, Any]:
    with store.engine.connect() as conn:
        row = (
            conn.execute(select(rating_campaigns).where(rating_campaigns.c.id == campaign_id))
            .mappings()
            .first()
        )
    if row is None:
        raise InputError(f"no rating campaign {campaign_id!r} in {store.url}", hint="`tunebench rate list`")
    return dict(row)


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


def list_campaigns(store: Store) -> list[Campaign]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(rating_campaigns).order_by(rating_campaigns.c.created_at.desc())
        ).mappings()
        return [_campaign(dict(r)) for r in rows]


def _check_token(row: Mapping[str, Any], token: str, column: str, what: str) -> None:
    if not hmac.compare_digest(_sha(str(token).strip()), row[column]):
        raise InputError(f"the {what} token does not match campaign {row['id']}")


# --------------------------------------------------------------------------- rating


def login(store: Store, token: str, rater: str, campaign_id: str | None = None) -> str:
    """Check a rater token (for `campaign_id` when given, else whichever campaign it opens) and
    the name; the campaign id. InputError with a message fit for the rater otherwise."""
    normalize_rater(rater)
    sha = _sha(str(token).strip())
    with store.engine.connect() as conn:
        q = select(rating_campaigns.c.id).where(rating_campaigns.c.rater_token_sha == sha)
        if campaign_id:
            q = q.where(rating_campaigns.c.id == campaign_id)
        row = conn.execute(q).first()
    if row is None:
        raise InputError("this token does not open a rating campaign here")
    return str(row[0])


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
    cid = row["id"]
    with store.engine.connect() as conn:
        items = [
            dict(r)
            for r in conn.execute(select(rating_items).where(rating_items.c.campaign_id == cid)).mappings()
        ]
        rated = conn.execute(
            select(ratings.c.item, ratings.c.rater).where(ratings.c.campaign_id == cid)
        ).all()
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
    with store.engine.connect() as conn:
        it = (
            conn.execute(
                select(rating_items).where(
                    rating_items.c.token == item_token, rating_items.c.campaign_id == campaign_id
                )
            )
            .mappings()
            .first()
        )
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
    try:
        with store.engine.begin() as conn:
            conn.execute(insert(ratings).values(**rec))
    except IntegrityError:
        return False
    return True


def _rating_rows(store: Store, campaign_id: str) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        q = select(ratings).where(ratings.c.campaign_id == campaign_id).order_by(ratings.c.id)
        return [dict(r) for r in conn.execute(q).mappings()]


def human_pairwise(store: Store, run_a: str, run_b: str) -> list[dict[str, str]]:
    """Every human rating (all campaigns, gold excluded) of run_a against run_b: one
    {"sample_id", "preference"} per rating, preference in A/B/tie/both_bad as run_a vs run_b."""
    with store.engine.connect() as conn:
        q = (
            select(ratings.c.sample_id, ratings.c.run_a, ratings.c.preference)
            .where(
                ratings.c.kind == "pair",
                ((ratings.c.run_a == run_a) & (ratings.c.run_b == run_b))
                | ((ratings.c.run_a == run_b) & (ratings.c.run_b == run_a)),
            )
            .order_by(ratings.c.id)
        )
        rows = conn.execute(q).all()
    swap = {"A": "B", "B": "A"}
    return [{"sample_id": sid, "preference": p if ra == run_a else swap.get(p, p)} for sid, ra, p in rows]


# --------------------------------------------------------------------------- statistics


def win_rate_ci(
    item_a: Sequence[float],
    item_n: Sequence[float],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """Ratio (sum a) / (sum n) over items, with a percentile-bootstrap CI resampling items.
    `item_a[i]`: A's wins + ties / 2 on item i; `item_n[i]`: its decisive-or-tie ratings (> 0)."""
    a = np.asarray(item_a, dtype=float)
    d = np.asarray(item_n, dtype=float)
    if a.size == 0:
        return (math.nan, math.nan, math.nan)
    if np.any(d <= 0):
        raise ValueError("every item needs at least one rating that is not 'both bad'")
    return stats.bootstrap_ci_fn(
        a.size, lambda idx: float(a[idx].sum() / d[idx].sum()), n_boot=n_boot, alpha=alpha, seed=seed
    )


def bradley_terry(
    wins: NDArray[np.float64] | Sequence[Sequence[float]],
    *,
    prior: float = 0.1,
    tol: float = 1e-10,
    max_iter: int = 10000,
) -> NDArray[np.float64]:
    """Bradley-Terry log-strengths (mean 0) from `wins[i, j]` = times i beat j (ties as halves),
    by Hunter's MM algorithm: p_i <- W_i / sum_j N_ij / (p_i + p_j), p renormalised to geometric
    mean 1 after each step. `prior` pseudo-wins are added to every off-diagonal cell. `wins` may
    also be a stack of matrices (B, k, k): each is fitted independently, all at once."""
    w = np.array(wins, dtype=float)
    single = w.ndim == 2
    if single:
        w = w[None]
    if w.ndim != 3 or w.shape[1] != w.shape[2]:
        raise ValueError("wins must be a square matrix (or a stack of them)")
    k = w.shape[1]
    off = 1.0 - np.eye(k)
    w = w * off + prior * off
    nij = w + np.transpose(w, (0, 2, 1))
    wi = w.sum(axis=2)
    p = np.ones(wi.shape)
    for _ in range(max_iter):
        denom = (nij / (p[:, :, None] + p[:, None, :])).sum(axis=2)
        new = np.maximum(wi / np.where(denom > 0, denom, 1.0), 1e-300)
        new = new / np.exp(np.log(new).mean(axis=1, keepdims=True))
        done = np.max(np.abs(np.log(new) - np.log(p))) < tol
        p = new
        if done:
            break
    lp = np.log(p)
    lp = lp - lp.mean(axis=1, keepdims=True)
    return lp[0] if single else lp


def krippendorff_alpha(units: Sequence[Sequence[Any]], level: Level = "nominal") -> float | None:
    """Krippendorff's alpha. `units`: for each unit, the values the raters gave it (missing values
    left out). Units with fewer than two values are not pairable and are ignored. None when fewer
    than two pairable values exist or there is no variation at all (expected disagreement 0).

    alpha = 1 - (n - 1) * sum_ck o_ck d2_ck / sum_ck n_c n_k d2_ck, where o is the coincidence
    matrix (each ordered pair of values within a unit of m values adds 1 / (m - 1)), n_c its margins
    and n their total; d2 is 1[c != k] (nominal), (c - k)^2 (interval) or
    (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2 (ordinal, values ranked)."""
    pairable = [list(u) for u in units if len(u) >= 2]
    values = sorted({v for u in pairable for v in u}, key=lambda v: (str(type(v)), v))
    if not pairable or len(values) < 1:
        return None
    index = {v: i for i, v in enumerate(values)}
    m = len(values)
    o = np.zeros((m, m))
    for u in pairable:
        cnt = np.zeros(m)
        for v in u:
            cnt[index[v]] += 1
        o += (np.outer(cnt, cnt) - np.diag(cnt)) / (len(u) - 1)
    nc = o.sum(axis=1)
    n = nc.sum()
    if n < 2:
        return None
    if level == "nominal":
        d2 = 1.0 - np.eye(m)
    elif level == "interval":
        x = np.asarray(values, dtype=float)
        d2 = (x[:, None] - x[None, :]) ** 2
    elif level == "ordinal":
        cum = np.concatenate([[0.0], np.cumsum(nc)])
        lo = np.minimum.outer(np.arange(m), np.arange(m))
        hi = np.maximum.outer(np.arange(m), np.arange(m))
        between = cum[hi + 1] - cum[lo]
        d2 = (between - (nc[:, None] + nc[None, :]) / 2.0) ** 2
    else:
        raise ValueError(f"unknown level {level!r}")
    de = float((np.outer(nc, nc) * d2).sum())
    if de == 0.0:
        return None
    return float(1.0 - (n - 1) * float((o * d2).sum()) / de)


# --------------------------------------------------------------------------- results


class PairResult(BaseModel):
    run_a: str
    run_b: str
    label_a: str
    label_b: str
    n_items: int = Field(description="items with at least one rating that is not 'both bad'")
    n_ratings: int
    a_wins: int
    b_wins: int
    ties: int
    both_bad: int
    both_bad_rate: float | None
    win_rate_a: float | None = Field(description="(A wins + ties/2) / (A wins + B wins + ties)")
    ci_low: float | None
    ci_high: float | None


class StrengthResult(BaseModel):
    run: str
    label: str
    log_strength: float
    ci_low: float | None
    ci_high: float | None
    win_vs_average: float = Field(description="expected win rate against a run of average strength")
    scales: dict[str, float | None] = Field(default_factory=dict, description="mean 1-5 scale scores")


class AgreementResult(BaseModel):
    name: str
    level: str
    alpha: float | None
    n_units: int = Field(description="units rated by two or more raters")


class RaterResult(BaseModel):
    rater: str
    n_ratings: int
    n_gold: int
    gold_correct: int
    gold_accuracy: float | None
    flagged: bool


class JudgeAgreement(BaseModel):
    run_a: str
    run_b: str
    judgment: str
    n: int
    agreement: float | None
    kappa: float | None


class CampaignResults(BaseModel):
    campaign: str
    suite: str
    split: str
    runs: dict[str, str] = Field(description="run id -> label")
    n_items: int
    n_gold_items: int
    n_ratings: int
    n_boot: int
    seed: int
    gold_threshold: float
    excluded_raters: list[str] = Field(default_factory=list)
    pairs: list[PairResult] = Field(default_factory=list)
    strengths: list[StrengthResult] = Field(default_factory=list)
    agreement: list[AgreementResult] = Field(default_factory=list)
    raters: list[RaterResult] = Field(default_factory=list)
    judge: list[JudgeAgreement] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def to_text(self) -> str:
        return render_results(self)


def _judge_outcomes(store: Store, run_a: str, run_b: str) -> tuple[str, dict[str, str]] | None:
    """The latest pairwise judgment of these runs: (id, sample_id -> outcome as run_a vs run_b)."""
    found: list[tuple[str, dict[str, Any], bool]] = []
    with store.engine.connect() as conn:
        q = select(records.c.id, records.c.body, records.c.ref, records.c.created_at).where(
            records.c.kind == "judgment", records.c.ref.in_([f"{run_a}..{run_b}", f"{run_b}..{run_a}"])
        )
        for rid, body, ref, _ in conn.execute(q.order_by(records.c.created_at)):
            found.append((rid, json.loads(body), ref != f"{run_a}..{run_b}"))
    if not found:
        return None
    rid, body, swapped = found[-1]
    swap = {"A": "B", "B": "A"}
    out = {}
    for p in body.get("pairs", []):
        o = p.get("outcome")
        if o in ("A", "B", "tie"):
            out[str(p.get("sample_id"))] = swap.get(o, o) if swapped else o
    return rid, out


def campaign_results(
    store: Store,
    campaign_id: str,
    admin_token: str,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    gold_threshold: float = 0.8,
    exclude_flagged: bool = False,
) -> CampaignResults:
    """Every statistic of a campaign (see the module docstring); InputError without the admin token."""
    row = _campaign_row(store, campaign_id)
    _check_token(row, admin_token, "admin_token_sha", "admin")
    camp = _campaign(row)
    if n_boot < 1:
        raise InputError(f"n_boot must be >= 1, got {n_boot}")
    rows = _rating_rows(store, campaign_id)
    res = CampaignResults(
        campaign=camp.id,
        suite=f"{camp.suite}@{camp.suite_version}+{camp.suite_hash[:12]}",
        split=camp.split,
        runs=camp.labels,
        n_items=camp.n_items,
        n_gold_items=camp.n_gold,
        n_ratings=len(rows),
        n_boot=n_boot,
        seed=seed,
        gold_threshold=gold_threshold,
        notes=list(camp.notes),
    )
    # raters and gold
    by_rater: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_rater.setdefault(r["rater"], []).append(r)
    for rater, rs in sorted(by_rater.items()):
        gold = [r for r in rs if r["kind"] == "gold"]
        correct = sum(r["preference"] == "A" for r in gold)
        acc = correct / len(gold) if gold else None
        res.raters.append(
            RaterResult(
                rater=rater,
                n_ratings=len(rs),
                n_gold=len(gold),
                gold_correct=correct,
                gold_accuracy=acc,
                flagged=acc is not None and acc < gold_threshold,
            )
        )
    if exclude_flagged:
        res.excluded_raters = [r.rater for r in res.raters if r.flagged]
    pair_rows = [r for r in rows if r["kind"] == "pair" and r["rater"] not in res.excluded_raters]
    if camp.n_gold and any(r.n_gold < camp.n_gold for r in res.raters):
        res.notes.append("some raters have not reached every gold item yet: their gold accuracy is partial")

    # win rates per pair; items are (sample, pair) units
    items: dict[str, list[dict[str, Any]]] = {}
    for r in pair_rows:
        items.setdefault(r["item"], []).append(r)
    for i, (a, b) in enumerate(combinations(camp.runs, 2)):
        prs = [r for r in pair_rows if r["run_a"] == a and r["run_b"] == b]
        cnt = {p: sum(r["preference"] == p for r in prs) for p in PREFERENCES}
        per_item: dict[str, list[float]] = {}
        for r in prs:
            if r["preference"] == "both_bad":
                continue
            acc2 = per_item.setdefault(r["item"], [0.0, 0.0])
            acc2[0] += {"A": 1.0, "tie": 0.5}.get(r["preference"], 0.0)
            acc2[1] += 1.0
        if per_item:
            point, lo, hi = win_rate_ci(
                [v[0] for v in per_item.values()],
                [v[1] for v in per_item.values()],
                n_boot=n_boot,
                seed=seed + i,
            )
            wr: float | None = point
            lo_: float | None = lo
            hi_: float | None = hi
        else:
            wr = lo_ = hi_ = None
        res.pairs.append(
            PairResult(
                run_a=a,
                run_b=b,
                label_a=camp.labels.get(a, a),
                label_b=camp.labels.get(b, b),
                n_items=len(per_item),
                n_ratings=len(prs),
                a_wins=cnt["A"],
                b_wins=cnt["B"],
                ties=cnt["tie"],
                both_bad=cnt["both_bad"],
                both_bad_rate=cnt["both_bad"] / len(prs) if prs else None,
                win_rate_a=wr,
                ci_low=lo_,
                ci_high=hi_,
            )
        )
    res.strengths = _strengths(camp, items, pair_rows, n_boot, seed)
    res.agreement = _agreement(items)
    res.judge = _judge_agreement(store, camp, pair_rows)
    return res


def _strengths(
    camp: Campaign,
    items: Mapping[str, list[dict[str, Any]]],
    pair_rows: list[dict[str, Any]],
    n_boot: int,
    seed: int,
) -> list[StrengthResult]:
    k = len(camp.runs)
    pos = {r: i for i, r in enumerate(camp.runs)}
    ii, jj, wa, wb = [], [], [], []
    for rs in items.values():
        a, b = pos[rs[0]["run_a"]], pos[rs[0]["run_b"]]
        x = sum({"A": 1.0, "tie": 0.5}.get(r["preference"], 0.0) for r in rs)
        y = sum({"B": 1.0, "tie": 0.5}.get(r["preference"], 0.0) for r in rs)
        if x + y > 0:
            ii.append(a)
            jj.append(b)
            wa.append(x)
            wb.append(y)
    # each item adds its A-side wins at (i, j) and B-side wins at (j, i): W = counts @ E
    n = len(ii)
    e = np.zeros((n, k * k))
    e[np.arange(n), np.asarray(ii, dtype=np.intp) * k + np.asarray(jj, dtype=np.intp)] = wa
    e[np.arange(n), np.asarray(jj, dtype=np.intp) * k + np.asarray(ii, dtype=np.intp)] = wb
    point = bradley_terry((np.ones(n) @ e).reshape(k, k))
    lo = hi = None
    if n > 1:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(n_boot, n))
        counts = np.zeros((n_boot, n))
        np.add.at(counts, (np.repeat(np.arange(n_boot), n), idx.ravel()), 1.0)
        boot = bradley_terry((counts @ e).reshape(n_boot, k, k))
        lo, hi = np.quantile(boot, 0.025, axis=0), np.quantile(boot, 0.975, axis=0)
    gm = np.exp(point)
    out = []
    for r, i in pos.items():
        scales: dict[str, float | None] = {}
        for s in SCALES:
            vals = [
                row[f"{'a' if row['run_a'] == r else 'b'}_{s}"]
                for row in pair_rows
                if r in (row["run_a"], row["run_b"])
            ]
            vals = [v for v in vals if v is not None]
            scales[s] = float(np.mean(vals)) if vals else None
        out.append(
            StrengthResult(
                run=r,
                label=camp.labels.get(r, r),
                log_strength=float(point[i]),
                ci_low=None if lo is None else float(lo[i]),
                ci_high=None if hi is None else float(hi[i]),
                win_vs_average=float(gm[i] / (gm[i] + 1.0)),
                scales=scales,
            )
        )
    return sorted(out, key=lambda s: -s.log_strength)


def _agreement(items: Mapping[str, list[dict[str, Any]]]) -> list[AgreementResult]:
    out = []
    pref_units = [[r["preference"] for r in rs] for rs in items.values()]
    out.append(
        AgreementResult(
            name="preference",
            level="nominal",
            alpha=krippendorff_alpha(pref_units, "nominal"),
            n_units=sum(len(u) >= 2 for u in pref_units),
        )
    )
    for s in SCALES:
        units = [
            [r[f"{side}_{s}"] for r in rs if r[f"{side}_{s}"] is not None]
            for rs in items.values()
            for side in ("a", "b")
        ]
        n_units = sum(len(u) >= 2 for u in units)
        for level in ("interval", "ordinal"):
            out.append(
                AgreementResult(name=s, level=level, alpha=krippendorff_alpha(units, level), n_units=n_units)  # type: ignore[arg-type]
            )
    return out


def _judge_agreement(store: Store, camp: Campaign, pair_rows: list[dict[str, Any]]) -> list[JudgeAgreement]:
    out = []
    for a, b in combinations(camp.runs, 2):
        found = _judge_outcomes(store, a, b)
        if found is None:
            continue
        jid, outcomes = found
        judge, human = [], []
        for r in pair_rows:
            if r["run_a"] == a and r["run_b"] == b and r["sample_id"] in outcomes:
                judge.append(outcomes[r["sample_id"]])
                human.append("tie" if r["preference"] == "both_bad" else r["preference"])
        agree = sum(x == y for x, y in zip(judge, human, strict=True)) / len(judge) if judge else None
        out.append(
            JudgeAgreement(
                run_a=a,
                run_b=b,
                judgment=jid,
                n=len(judge),
                agreement=agree,
                kappa=cohens_kappa(judge, human),
            )
        )
    return out


def _ci(lo: float | None, hi: float | None, digits: int = 3, signed: bool = False) -> str:
    if lo is None or hi is None:
        return "-"
    f = f"{{:+.{digits}f}}" if signed else f"{{:.{digits}f}}"
    return "[" + f.format(lo) + ", " + f.format(hi) + "]"


def render_results(res: CampaignResults) -> str:
    tags = {r: chr(ord("A") + i) if i < 26 else f"R{i}" for i, r in enumerate(res.runs)}
    lines = [
        f"rating campaign {res.campaign}  suite {res.suite}  split {res.split}",
        f"{res.n_items} items + {res.n_gold_items} gold; {res.n_ratings} ratings by {len(res.raters)} rater(s); "
        f"bootstrap {res.n_boot} resamples over items, seed {res.seed}",
        "",
        table(["run", "id", "label"], [(tags[r], r, lab) for r, lab in res.runs.items()], "lll"),
        "",
        "win rate of X against Y: (X wins + ties/2) / (X wins + Y wins + ties); 'both bad' reported separately",
        table(
            ["X", "Y", "X win rate", "95% CI", "X/Y/tie", "both bad", "items"],
            [
                (
                    tags[p.run_a],
                    tags[p.run_b],
                    num(p.win_rate_a),
                    _ci(p.ci_low, p.ci_high),
                    f"{p.a_wins}/{p.b_wins}/{p.ties}",
                    f"{p.both_bad} ({num(p.both_bad_rate, 2)})" if p.n_ratings else "-",
                    p.n_items,
                )
                for p in res.pairs
            ],
        ),
        "",
        "Bradley-Terry strength (log, mean 0; win vs average = expected win rate against an average run)",
        table(
            ["run", "log strength", "95% CI", "win vs avg", *SCALES],
            [
                (
                    tags[s.run],
                    f"{s.log_strength:+.3f}",
                    _ci(s.ci_low, s.ci_high, signed=True),
                    num(s.win_vs_average),
                    *(num(s.scales.get(k), 2) for k in SCALES),
                )
                for s in res.strengths
            ],
        ),
        "",
        "inter-rater agreement (Krippendorff's alpha on items rated by 2+ raters)",
        table(
            ["measure", "level", "alpha", "units"],
            [(a.name, a.level, num(a.alpha), a.n_units) for a in res.agreement],
            "llrr",
        ),
        "",
        f"raters (gold accuracy below {res.gold_threshold:g} is flagged)",
        table(
            ["rater", "ratings", "gold", "gold accuracy", "flag"],
            [
                (
                    r.rater,
                    r.n_ratings,
                    f"{r.gold_correct}/{r.n_gold}",
                    num(r.gold_accuracy),
                    "LOW" if r.flagged else "",
                )
                for r in res.raters
            ],
            "lrrrl",
        )
        if res.raters
        else "no ratings yet",
    ]
    if res.excluded_raters:
        lines.append(f"excluded from the statistics above: {', '.join(res.excluded_raters)}")
    lines += ["", "judge against humans (Cohen's kappa; both bad read as tie)"]
    if res.judge:
        lines.append(
            table(
                ["X", "Y", "judgment", "n", "agreement", "kappa"],
                [
                    (tags[j.run_a], tags[j.run_b], j.judgment, j.n, num(j.agreement), num(j.kappa))
                    for j in res.judge
                ],
            )
        )
    else:
        lines.append("no stored pairwise judgment of these runs (`tunebench judge RUN_A RUN_B`)")
    for n_ in res.notes:
        lines.append(f"note: {n_}")
    return "\n".join(lines)


def count_ratings(store: Store, campaign_id: str) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(ratings).where(ratings.c.campaign_id == campaign_id)
            ).scalar_one()
        )
