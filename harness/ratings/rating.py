"""Rating: a rater's session, their next item (blinded, sides counterbalanced) and saving a rating.

Sessions
--------
`open_session(store, token, rater=None, campaign_id=None)` checks a token and returns a
`RaterSession` (campaign id, rater name, whether the token is personal). A personal token (an
invitation, `rate create --raters`) names its rater: a name passed along with it must be that
rater's, or the session is refused (a rater cannot rate as another). The shared token needs the
name the rater typed. `login(...)` is the same check returning the campaign id. Every function
below takes (campaign id, token, rater) and checks them the same way; with a personal token the
rater may be None.

Items
-----
`next_item(store, campaign_id, token, rater)` returns the rater's next unrated item as a
`BlindItem` (item token, instruction, input, reference when the campaign shows it, "Output 1",
"Output 2", position, and an opaque `order` tag) or None when done: the position is derived from
the stored ratings, so a reload resumes where the rater left off. Each rater sees the items in
their own seeded order (sha256 of a per-campaign secret salt, the seed, the rater and the item
token).

Sides are counterbalanced per rater: within each group of items (one group per pair of runs, one
for the gold items) the run shown as "Output 1" is the side this rater has seen first less often
so far, by their stored ratings (the `first` column); when both sides are even, a coin from the
same kind of salted hash (`output_order`) decides. So at every point each rater has seen each run
of a pair first on half of that pair's items, +-1, whichever items they were offered (overlap < 1
included), and the whole assignment is a function of the campaign salt and the stored ratings.
The salt never leaves the store, so a rater cannot work out the mapping from anything they see.

Saving
------
`save_rating(store, campaign_id, token, rater, item_token, choice, scores, comment, order=...)`
turns the rater's choice ("1", "2", "tie", "both_bad") and per-output scores on the campaign's
scales into run terms and inserts one row in one transaction. The mapping comes from the item's
`order` tag (an HMAC of the side that was shown, checked with the salt), so the rating is stored
the way the page showed it even if the rater saved other items in between (another tab); without
a tag the side is worked out again as `next_item` would. The result (`SaveResult`) is never
silent: a second submit of the same item by the same rater is stored once and reported as a
duplicate; a rating of an exclusive item (overlap < 1) that another rater had rated meanwhile is
kept as an extra rating of that item and reported as such (`others`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..store import Store, now_iso
from ..store import human_ratings as q
from .campaign import CHOICES, ORDER_BALANCED, campaign_row, check_token, normalize_rater, token_sha
from .scales import SCALES, Scale, scales_from_json

__all__ = [
    "BlindItem",
    "Progress",
    "RaterSession",
    "SaveResult",
    "campaign_scales",
    "login",
    "next_item",
    "open_session",
    "output_order",
    "progress",
    "save_rating",
]


@dataclass(frozen=True)
class RaterSession:
    campaign_id: str
    rater: str
    """the normalized name: from the invitation with a personal token, as typed with the shared one"""
    personal: bool


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
    instruction: str = ""
    """the task's instruction (system prompt), "" when the runs had none"""
    reference: str | None = None
    """the reference answer, only when the campaign shows references"""
    order: str = ""
    """opaque tag of which side is Output 1 (give it back to save_rating)"""


@dataclass(frozen=True)
class Progress:
    done: int
    remaining: int


@dataclass(frozen=True)
class SaveResult:
    """What became of a submitted rating. True when stored."""

    stored: bool
    duplicate: bool = False
    """this rater had already rated this item: nothing new was stored"""
    others: int = 0
    """other raters who had rated this exclusive item first: this rating is kept as an extra one"""

    def __bool__(self) -> bool:
        return self.stored


def _hash_int(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()[:8], "big")


def output_order(salt: str, seed: int, rater: str, item_token: str) -> bool:
    """The salted coin for (rater, item): True for "the item's run_a output is Output 1". Decides the
    side when the rater's sides are even (and every side in campaigns made before counterbalancing)."""
    return _hash_int("side", salt, seed, normalize_rater(rater), item_token) % 2 == 0


def _order_tag(salt: str, rater: str, item_token: str, a_first: bool) -> str:
    msg = f"side\x1f{rater}\x1f{item_token}\x1f{'A' if a_first else 'B'}"
    return hmac.new(salt.encode(), msg.encode(), hashlib.sha256).hexdigest()[:24]


# --------------------------------------------------------------------------- sessions


def open_session(
    store: Store, token: str, rater: str | None = None, campaign_id: str | None = None
) -> RaterSession:
    """The session a token opens (for `campaign_id` when given, else whichever campaign it belongs
    to); InputError with a message fit for the rater otherwise."""
    sha = token_sha(token)
    inv = q.invite_for_token(store, sha, campaign_id)
    if inv is not None:
        cid, who = inv
        _same_rater(rater, who)
        return RaterSession(cid, who, True)
    found = q.campaign_for_rater_token(store, sha, campaign_id)
    if found is None:
        raise InputError("this token does not open a rating campaign here")
    return RaterSession(found, normalize_rater(rater or ""), False)


def login(store: Store, token: str, rater: str | None = None, campaign_id: str | None = None) -> str:
    """Check a rater token and name (see `open_session`); the campaign id."""
    return open_session(store, token, rater, campaign_id).campaign_id


def _same_rater(typed: str | None, invited: str) -> None:
    if typed and normalize_rater(typed) != invited:
        raise InputError("this link belongs to another rater: use the link you were sent")


def _rater_context(
    store: Store, campaign_id: str, token: str, rater: str | None
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(campaign row, its body, the rater's name) after checking the token for this campaign."""
    row = campaign_row(store, campaign_id)
    inv = q.invite_for_token(store, token_sha(token), campaign_id)
    if inv is not None:
        who = inv[1]
        _same_rater(rater, who)
    else:
        check_token(row, token, "rater_token_sha", "rater")
        who = normalize_rater(rater or "")
    return row, json.loads(row["body"]), who


def campaign_scales(store: Store, campaign_id: str) -> tuple[Scale, ...]:
    """The scales the campaign's raters score each output on (nothing secret: for the rater app)."""
    return scales_from_json(json.loads(campaign_row(store, campaign_id)["body"]).get("scales"))


# --------------------------------------------------------------------------- items and sides


@dataclass
class _State:
    items: dict[str, dict[str, Any]]
    mine: list[tuple[str, str]]
    """(item token, first) of the rater's stored ratings, in the order stored"""
    taken: set[str]
    """items someone else has rated"""


def _state(store: Store, campaign_id: str, who: str) -> _State:
    items, rated = q.items_and_raters(store, campaign_id)
    return _State(
        {it["token"]: it for it in items},
        [(i, f) for i, r, f in rated if r == who],
        {i for i, r, _ in rated if r != who},
    )


def _group(it: Mapping[str, Any]) -> str:
    return "gold" if it["kind"] == "gold" else f"{it['run_a']}\x1f{it['run_b']}"


def _a_first(row: Mapping[str, Any], body: Mapping[str, Any], who: str, st: _State, token: str) -> bool:
    """Whether the item's run_a output is Output 1 for this rater (module docstring: Sides)."""
    coin = output_order(body["salt"], row["seed"], who, token)
    if body.get("order") != ORDER_BALANCED:
        return coin
    group = _group(st.items[token])
    firsts = [f for i, f in st.mine if i != token and i in st.items and _group(st.items[i]) == group]
    n_a, n_b = firsts.count("A"), firsts.count("B")
    return coin if n_a == n_b else n_a < n_b


def _queue(row: Mapping[str, Any], salt: str, who: str, st: _State) -> list[dict[str, Any]]:
    """The rater's open items in their order."""
    mine = {i for i, _ in st.mine}
    todo = [
        it
        for it in st.items.values()
        if it["token"] not in mine and (it["shared"] or it["token"] not in st.taken)
    ]
    todo.sort(key=lambda it: _hash_int("order", salt, row["seed"], who, it["token"]))
    return todo


def next_item(store: Store, campaign_id: str, token: str, rater: str | None) -> BlindItem | None:
    """The rater's next item (blinded), or None when they have rated everything open to them."""
    row, body, who = _rater_context(store, campaign_id, token, rater)
    st = _state(store, campaign_id, who)
    todo = _queue(row, body["salt"], who, st)
    if not todo:
        return None
    it = todo[0]
    a_first = _a_first(row, body, who, st, it["token"])
    o1, o2 = (it["output_a"], it["output_b"]) if a_first else (it["output_b"], it["output_a"])
    return BlindItem(
        it["token"],
        it["input"],
        o1,
        o2,
        position=len(st.mine) + 1,
        remaining=len(todo),
        instruction=it.get("instruction") or "",
        reference=(it.get("reference") or None) if body.get("show_reference") else None,
        order=_order_tag(body["salt"], who, it["token"], a_first),
    )


def progress(store: Store, campaign_id: str, token: str, rater: str | None) -> Progress:
    row, body, who = _rater_context(store, campaign_id, token, rater)
    st = _state(store, campaign_id, who)
    return Progress(len(st.mine), len(_queue(row, body["salt"], who, st)))


# --------------------------------------------------------------------------- saving


def _scores(
    scales: tuple[Scale, ...], side: Mapping[str, str], scores: Mapping[str, Mapping[str, int | None]] | None
) -> tuple[dict[str, Any], list[tuple[str, str, int | None]]]:
    """(fixed-column values, rows for `rating_scores`) from the rater's scores per shown output;
    InputError naming what is wrong or missing."""
    names = {s.name for s in scales}
    columns: dict[str, Any] = {}
    extra: list[tuple[str, str, int | None]] = []
    given: dict[str, Mapping[str, int | None]] = dict(scores or {})
    for shown, sc in given.items():
        if shown not in side:
            raise InputError(f"scores are keyed by output '1' or '2', got {shown!r}")
        for scale, v in sc.items():
            if scale not in names:
                raise InputError(f"unknown scale {scale!r}; scales: {', '.join(sorted(names))}")
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5):
                raise InputError(f"{scale} must be an integer from 1 to 5, got {v!r}")
            if scale in SCALES:
                columns[f"{side[shown].lower()}_{scale}"] = v
            else:
                extra.append((side[shown], scale, v))
    missing = [
        f"{s.name} (Output {shown})"
        for shown in ("1", "2")
        for s in scales
        if s.required and given.get(shown, {}).get(s.name) is None
    ]
    if missing:
        raise InputError("please answer: " + ", ".join(missing))
    return columns, extra


def save_rating(
    store: Store,
    campaign_id: str,
    token: str,
    rater: str | None,
    item_token: str,
    choice: str,
    scores: Mapping[str, Mapping[str, int | None]] | None = None,
    comment: str = "",
    *,
    order: str | None = None,
) -> SaveResult:
    """Store one rating in one transaction (module docstring: Saving). `choice` is "1", "2", "tie" or
    "both_bad" as the rater saw it; `scores` maps "1"/"2" to {scale: 1-5} (every required scale of
    the campaign for both outputs); `order` is the BlindItem's tag."""
    row, body, who = _rater_context(store, campaign_id, token, rater)
    if choice not in CHOICES:
        raise InputError(f"choice must be one of {', '.join(CHOICES)}, got {choice!r}")
    it = q.campaign_item(store, campaign_id, item_token)
    if it is None:
        raise InputError("unknown item")
    if order:
        tags = {_order_tag(body["salt"], who, item_token, a): a for a in (True, False)}
        if order not in tags:
            raise InputError("this page is out of date: reload it and rate the item shown")
        a_first = tags[order]
    else:
        a_first = _a_first(row, body, who, _state(store, campaign_id, who), item_token)
    side = {"1": "A" if a_first else "B", "2": "B" if a_first else "A"}
    columns, extra = _scores(scales_from_json(body.get("scales")), side, scores)
    rec = {
        "campaign_id": campaign_id,
        "rater": who,
        "item": item_token,
        "kind": it["kind"],
        "sample_id": it["sample_id"],
        "run_a": it["run_a"],
        "run_b": it["run_b"],
        "preference": side.get(choice, choice),
        "first": "A" if a_first else "B",
        "comment": str(comment or "")[:5000],
        "created_at": now_iso(),
        **columns,
    }
    rid = q.insert_rating(store, rec, extra)
    if rid is None:
        return SaveResult(stored=False, duplicate=True)
    others = 0
    if not it["shared"]:  # an exclusive item: did another rater get there first?
        others = sum(1 for i, r in q.item_ratings(store, campaign_id, item_token) if i < rid and r != who)
    return SaveResult(stored=True, others=others)
