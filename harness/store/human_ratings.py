"""Queries of the human rating tables (`rating_campaigns`, `rating_items`, `ratings`; see `schema`),
for the rating campaigns (harness/ratings), the judge's agreement with humans (harness/pairwise),
the CLI and the dashboard. Rows come back as plain dicts; what they mean is harness/ratings' business.

Named `human_ratings`, not `ratings`: `harness.store.ratings` is the table."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from .core import Store
from .schema import (
    rating_campaigns,
    rating_item_context,
    rating_items,
    rating_raters,
    rating_scores,
    ratings,
    records,
)

PREFERENCES = ("A", "B", "tie", "both_bad")
"""A stored preference, in run terms: A = the row's run_a, B = its run_b."""


def insert_campaign(
    store: Store,
    campaign: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    contexts: Sequence[Mapping[str, Any]] = (),
    invites: Sequence[Mapping[str, Any]] = (),
) -> None:
    """A campaign row, its item rows, their instruction/reference rows and its invited raters, in one
    transaction."""
    with store.engine.begin() as conn:
        conn.execute(insert(rating_campaigns).values(**campaign))
        conn.execute(insert(rating_items), [dict(i) for i in items])
        if contexts:
            conn.execute(insert(rating_item_context), [dict(c) for c in contexts])
        if invites:
            conn.execute(insert(rating_raters), [dict(i) for i in invites])


def campaign_row(store: Store, campaign_id: str) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        row = (
            conn.execute(select(rating_campaigns).where(rating_campaigns.c.id == campaign_id))
            .mappings()
            .first()
        )
    return None if row is None else dict(row)


def campaign_rows(store: Store) -> list[dict[str, Any]]:
    """Every campaign row, newest first."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(rating_campaigns).order_by(rating_campaigns.c.created_at.desc())
        ).mappings()
        return [dict(r) for r in rows]


def campaign_for_rater_token(store: Store, token_sha: str, campaign_id: str | None = None) -> str | None:
    """The id of the campaign (`campaign_id` when given) whose rater token has this sha256."""
    with store.engine.connect() as conn:
        q = select(rating_campaigns.c.id).where(rating_campaigns.c.rater_token_sha == token_sha)
        if campaign_id:
            q = q.where(rating_campaigns.c.id == campaign_id)
        row = conn.execute(q).first()
    return None if row is None else str(row[0])


def invite_for_token(store: Store, token_sha: str, campaign_id: str | None = None) -> tuple[str, str] | None:
    """(campaign id, rater) of the invitation whose personal token has this sha256."""
    with store.engine.connect() as conn:
        q = select(rating_raters.c.campaign_id, rating_raters.c.rater).where(
            rating_raters.c.token_sha == token_sha
        )
        if campaign_id:
            q = q.where(rating_raters.c.campaign_id == campaign_id)
        row = conn.execute(q).first()
    return None if row is None else (str(row[0]), str(row[1]))


def invited_raters(store: Store, campaign_id: str) -> list[str]:
    """The names of a campaign's invited raters (empty for a shared-token campaign), sorted."""
    with store.engine.connect() as conn:
        q = select(rating_raters.c.rater).where(rating_raters.c.campaign_id == campaign_id)
        return sorted(str(r[0]) for r in conn.execute(q))


def _items_query(campaign_id: str) -> Any:
    """The campaign's items with their instruction and reference (empty/None for items made before
    those were stored)."""
    return (
        select(rating_items, rating_item_context.c.instruction, rating_item_context.c.reference)
        .select_from(
            rating_items.outerjoin(rating_item_context, rating_item_context.c.token == rating_items.c.token)
        )
        .where(rating_items.c.campaign_id == campaign_id)
    )


def items_and_raters(
    store: Store, campaign_id: str
) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    """The campaign's item rows (with instruction and reference), and (item token, rater, first) of
    every rating stored so far, in the order stored."""
    with store.engine.connect() as conn:
        items = [dict(r) for r in conn.execute(_items_query(campaign_id)).mappings()]
        rated = conn.execute(
            select(ratings.c.item, ratings.c.rater, ratings.c.first)
            .where(ratings.c.campaign_id == campaign_id)
            .order_by(ratings.c.id)
        ).all()
    return items, [(str(i), str(r), str(f)) for i, r, f in rated]


def campaign_item(store: Store, campaign_id: str, item_token: str) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        q = _items_query(campaign_id).where(rating_items.c.token == item_token)
        it = conn.execute(q).mappings().first()
    return None if it is None else dict(it)


def insert_rating(
    store: Store, row: Mapping[str, Any], scores: Sequence[tuple[str, str, int | None]] = ()
) -> int | None:
    """One rating row, and its scores on scales without a column of their own ((side, scale, value)
    rows of `rating_scores`), in one transaction; the new rating's id, or None when the
    (campaign, rater, item) key is taken (nothing is written then)."""
    try:
        with store.engine.begin() as conn:
            pk = conn.execute(insert(ratings).values(**row)).inserted_primary_key
            assert pk is not None
            rid = int(pk[0])
            if scores:
                conn.execute(
                    insert(rating_scores),
                    [
                        {
                            "rating_id": rid,
                            "side": side,
                            "scale": scale,
                            "campaign_id": row["campaign_id"],
                            "value": v,
                        }
                        for side, scale, v in scores
                    ],
                )
    except IntegrityError:
        return None
    return rid


def item_ratings(store: Store, campaign_id: str, item_token: str) -> list[tuple[int, str]]:
    """(rating id, rater) of every rating of one item, in the order stored."""
    with store.engine.connect() as conn:
        q = (
            select(ratings.c.id, ratings.c.rater)
            .where(ratings.c.campaign_id == campaign_id, ratings.c.item == item_token)
            .order_by(ratings.c.id)
        )
        return [(int(i), str(r)) for i, r in conn.execute(q)]


def rating_rows(store: Store, campaign_id: str) -> list[dict[str, Any]]:
    """Every rating row of a campaign, in the order stored. Scores on the campaign's own scales
    (table `rating_scores`) are added to their row under the same names as the fixed columns:
    "a_<scale>" and "b_<scale>"."""
    with store.engine.connect() as conn:
        q = select(ratings).where(ratings.c.campaign_id == campaign_id).order_by(ratings.c.id)
        rows = [dict(r) for r in conn.execute(q).mappings()]
        extra = conn.execute(
            select(
                rating_scores.c.rating_id, rating_scores.c.side, rating_scores.c.scale, rating_scores.c.value
            ).where(rating_scores.c.campaign_id == campaign_id)
        ).all()
    by_id = {r["id"]: r for r in rows}
    for rid, side, scale, value in extra:
        if rid in by_id:
            by_id[rid][f"{str(side).lower()}_{scale}"] = value
    return rows


def count_ratings(store: Store, campaign_id: str) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(ratings).where(ratings.c.campaign_id == campaign_id)
            ).scalar_one()
        )


def human_pairwise(store: Store, run_a: str, run_b: str) -> list[dict[str, str]]:
    """Every human rating (all campaigns, gold attention checks excluded) of run_a against run_b:
    one {"sample_id", "preference"} per rating, in the order stored, the preference (A, B, tie or
    both_bad) oriented as run_a vs run_b: a row stored with the runs swapped has A and B swapped."""
    with store.engine.connect() as conn:
        q = (
            select(ratings.c.sample_id, ratings.c.run_a, ratings.c.preference)
            .where(
                ratings.c.kind == "pair",
                ratings.c.preference.in_(PREFERENCES),
                ((ratings.c.run_a == run_a) & (ratings.c.run_b == run_b))
                | ((ratings.c.run_a == run_b) & (ratings.c.run_b == run_a)),
            )
            .order_by(ratings.c.id)
        )
        rows = conn.execute(q).all()
    swap = {"A": "B", "B": "A"}
    return [
        {"sample_id": str(sid), "preference": p if ra == run_a else swap.get(p, p)} for sid, ra, p in rows
    ]


def latest_judgment(store: Store, run_a: str, run_b: str) -> tuple[str, str, dict[str, Any]] | None:
    """(id, ref, body) of the latest stored pairwise judgment of these two runs, in either order
    (records of kind "judgment", ref "RUN_A..RUN_B"); None when there is none."""
    with store.engine.connect() as conn:
        q = select(records.c.id, records.c.body, records.c.ref, records.c.created_at).where(
            records.c.kind == "judgment", records.c.ref.in_([f"{run_a}..{run_b}", f"{run_b}..{run_a}"])
        )
        found = [(rid, ref, body) for rid, body, ref, _ in conn.execute(q.order_by(records.c.created_at))]
    if not found:
        return None
    rid, ref, body = found[-1]
    return str(rid), str(ref), json.loads(body)
