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
from .schema import rating_campaigns, rating_items, ratings, records

PREFERENCES = ("A", "B", "tie", "both_bad")
"""A stored preference, in run terms: A = the row's run_a, B = its run_b."""


def insert_campaign(store: Store, campaign: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> None:
    """A campaign row and its item rows, in one transaction."""
    with store.engine.begin() as conn:
        conn.execute(insert(rating_campaigns).values(**campaign))
        conn.execute(insert(rating_items), [dict(i) for i in items])


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


def items_and_raters(store: Store, campaign_id: str) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The campaign's item rows, and (item token, rater) of every rating stored so far."""
    with store.engine.connect() as conn:
        items = [
            dict(r)
            for r in conn.execute(
                select(rating_items).where(rating_items.c.campaign_id == campaign_id)
            ).mappings()
        ]
        rated = conn.execute(
            select(ratings.c.item, ratings.c.rater).where(ratings.c.campaign_id == campaign_id)
        ).all()
    return items, [(str(i), str(r)) for i, r in rated]


def campaign_item(store: Store, campaign_id: str, item_token: str) -> dict[str, Any] | None:
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
    return None if it is None else dict(it)


def insert_rating(store: Store, row: Mapping[str, Any]) -> bool:
    """One rating row in one transaction; False when the (campaign, rater, item) key is taken."""
    try:
        with store.engine.begin() as conn:
            conn.execute(insert(ratings).values(**row))
    except IntegrityError:
        return False
    return True


def rating_rows(store: Store, campaign_id: str) -> list[dict[str, Any]]:
    """Every rating row of a campaign, in the order stored."""
    with store.engine.connect() as conn:
        q = select(ratings).where(ratings.c.campaign_id == campaign_id).order_by(ratings.c.id)
        return [dict(r) for r in conn.execute(q).mappings()]


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
