"""Every table of the store and the one append-only list of migrations.

Never edit a released migration; add a new one at the end of MIGRATIONS. A migration creates
tables and/or runs `RecordUpgrade` steps, Python rewrites of the stored run records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", String(40), nullable=False),
)
runs = Table(
    "runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("suite", String(200), nullable=False, index=True),
    Column("suite_version", String(50), nullable=False),
    Column("suite_hash", String(64), nullable=False),
    Column("model", String(1000), nullable=False, index=True),
    Column("prompt_name", String(200), nullable=False),
    Column("split", String(50), nullable=False),
    Column("status", String(20), nullable=False),
    Column("config_key", String(64), nullable=False, index=True),
    Column("created_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("record", Text, nullable=False),
)
generations = Table(
    "generations",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("model_identity", String(64), nullable=False),
    Column("prompt_text", Text, nullable=False),
    Column("completion", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
)
samples = Table(
    "samples",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("sample_id", String(200), primary_key=True),
    Column("idx", Integer, nullable=False),
    Column("gen_key", String(64), nullable=False),
    Column("prompt", Text, nullable=False),
    Column("prompt_text", Text, nullable=False),
    Column("reference", Text),
    Column("completion", Text, nullable=False),
)
scores = Table(
    "scores",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("sample_id", String(200), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("value", Float),
    Column("detail", Text, nullable=False),
    Column("data", Text, nullable=False),
)
metrics = Table(
    "metrics",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("value", Float),
    Column("ci_low", Float),
    Column("ci_high", Float),
    Column("n", Integer, nullable=False),
)
records = Table(
    # Other stored records (training runs, baseline selections, comparisons), by kind.
    "records",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(50), nullable=False, index=True),
    Column("created_at", String(40), nullable=False),
    Column("ref", String(200), index=True),
    Column("body", Text, nullable=False),
)

judge_calls = Table(
    # One row per judge call (harness/judge): the judge's identity, the template, the exact prompt, every
    # raw reply (a reply that failed to parse and the retry after it) and the parsed verdict or error.
    "judge_calls",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("judge", String(1000), nullable=False, index=True),
    Column("judge_identity", String(64), nullable=False),
    Column("template_id", String(100), nullable=False),
    Column("template_version", Integer, nullable=False),
    Column("template_hash", String(64), nullable=False),
    Column("params", Text, nullable=False),
    Column("prompt", Text, nullable=False),
    Column("reply", Text, nullable=False),
    Column("replies", Text, nullable=False),
    Column("parsed", Text),
    Column("error", Text),
    Column("attempts", Integer, nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("created_at", String(40), nullable=False),
)


# -- nightly runs (harness/nightly) -------------------------------------------------------------------
nightly_passes = Table(
    # One row per (plan, date): a nightly pass, its status (running | complete | interrupted) and summary.
    "nightly_passes",
    metadata,
    Column("plan", String(200), primary_key=True),
    Column("date", String(10), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("summary", Text),
)
nightly_items = Table(
    # One row per (plan, date, model, suite): its run, the model's verdict, status and error.
    "nightly_items",
    metadata,
    Column("plan", String(200), primary_key=True),
    Column("date", String(10), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("suite", String(200), primary_key=True),
    Column("run_id", String(64), index=True),
    Column("verdict_id", String(64)),
    Column("status", String(20), nullable=False),
    Column("error", Text),
    Column("updated_at", String(40), nullable=False),
)
nightly_alerts = Table(
    # One row per (plan, date, alert key, webhook): delivery status, so a re-run never alerts twice.
    "nightly_alerts",
    metadata,
    Column("plan", String(200), primary_key=True),
    Column("date", String(10), primary_key=True),
    Column("key", String(300), primary_key=True),
    Column("webhook", String(1000), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("payload", Text, nullable=False),
    Column("updated_at", String(40), nullable=False),
)
locks = Table(
    # Named leases (schedulers, nightly passes): owner plus an expiry the holder keeps extending.
    "locks",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("owner", String(300), nullable=False),
    Column("acquired_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)


# -- human rating campaigns (harness/ratings) ------------------------------------------------------

rating_campaigns = Table(
    # One row per blinded rating campaign: the runs compared, the sampling parameters and sha256 hashes
    # of its rater and admin tokens (never the tokens). `body` holds the rest as JSON (labels, salt).
    "rating_campaigns",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at", String(40), nullable=False),
    Column("suite", String(200), nullable=False),
    Column("suite_version", String(50), nullable=False),
    Column("suite_hash", String(64), nullable=False),
    Column("split", String(50), nullable=False),
    Column("runs", Text, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("overlap", Float, nullable=False),
    Column("rater_token_sha", String(64), nullable=False, index=True),
    Column("admin_token_sha", String(64), nullable=False),
    Column("body", Text, nullable=False),
)
rating_items = Table(
    # One row per item shown to raters, named by an opaque random token. kind "pair": the outputs of
    # run_a and run_b for sample_id; kind "gold": an attention check whose output_a is the better one.
    "rating_items",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("campaign_id", String(64), nullable=False, index=True),
    Column("idx", Integer, nullable=False),
    Column("kind", String(10), nullable=False),
    Column("shared", Integer, nullable=False),
    Column("sample_id", String(200)),
    Column("run_a", String(64)),
    Column("run_b", String(64)),
    Column("input", Text, nullable=False),
    Column("output_a", Text, nullable=False),
    Column("output_b", Text, nullable=False),
)
ratings = Table(
    # One row per (campaign, rater, item): the preference in run terms (A = run_a, B = run_b, tie,
    # both_bad), which run was shown as "Output 1", and 1-5 scales for each run's output.
    "ratings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign_id", String(64), nullable=False, index=True),
    Column("rater", String(100), nullable=False),
    Column("item", String(64), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("sample_id", String(200)),
    Column("run_a", String(64), index=True),
    Column("run_b", String(64), index=True),
    Column("preference", String(10), nullable=False),
    Column("first", String(1), nullable=False),
    Column("a_accuracy", Integer),
    Column("a_format", Integer),
    Column("a_tone", Integer),
    Column("a_completeness", Integer),
    Column("b_accuracy", Integer),
    Column("b_format", Integer),
    Column("b_tone", Integer),
    Column("b_completeness", Integer),
    Column("comment", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    UniqueConstraint("campaign_id", "rater", "item", name="uq_ratings_campaign_rater_item"),
)

rating_raters = Table(
    # One row per invited rater of a campaign (`rate create --raters`): the rater's name and the sha256
    # of their personal token (never the token). The name comes from here, never from what a rater types.
    "rating_raters",
    metadata,
    Column("token_sha", String(64), primary_key=True),
    Column("campaign_id", String(64), nullable=False, index=True),
    Column("rater", String(100), nullable=False),
    Column("created_at", String(40), nullable=False),
    UniqueConstraint("campaign_id", "rater", name="uq_rating_raters_campaign_rater"),
)
rating_item_context = Table(
    # What a rater reads beside an item's input: the task's instruction (the system prompt the runs were
    # given) and the reference answer (shown only when the campaign asks for it). One row per item token.
    "rating_item_context",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("campaign_id", String(64), nullable=False, index=True),
    Column("instruction", Text, nullable=False),
    Column("reference", Text),
)
rating_scores = Table(
    # 1-5 scores on a campaign's own scales (`rate create --scales`) that have no column in `ratings`:
    # one row per (rating, side in run terms A/B, scale).
    "rating_scores",
    metadata,
    Column("rating_id", Integer, primary_key=True),
    Column("side", String(1), primary_key=True),
    Column("scale", String(40), primary_key=True),
    Column("campaign_id", String(64), nullable=False, index=True),
    Column("value", Integer),
)

RecordUpgradeFn = Callable[[dict[str, Any]], "dict[str, Any] | None"]
"""A stored run record (its JSON object) -> the upgraded record, or None to leave it unchanged."""

RECORD_UPGRADES: dict[str, RecordUpgradeFn] = {}


def register_record_upgrade(name: str, fn: RecordUpgradeFn) -> None:
    """Provide the function of the `RecordUpgrade` step called `name`. It is registered by the
    module that owns the meaning of the field it fills (harness/metrics.py for `metric_info`), so
    the store never imports the layers above it."""
    RECORD_UPGRADES[name] = fn


@dataclass(frozen=True)
class RecordUpgrade:
    """A Python step of a migration: every stored run record is passed through the function
    registered under `name`. Until that function is registered (a process that opened the store
    without importing its module) the migration is left unapplied and runs on a later open; a store
    without runs has nothing to upgrade and applies it at once."""

    name: str


# Append-only: never edit a released migration; add a new one at the end.
MIGRATIONS: list[tuple[int, list[Table | RecordUpgrade]]] = [
    (1, [runs, generations, samples, scores, metrics]),
    (2, [records]),
    (3, [judge_calls]),
    (4, [nightly_passes, nightly_items, nightly_alerts, locks]),
    (5, [rating_campaigns, rating_items, ratings]),
    # run records gain `metric_info` (each metric's direction, kind and range), backfilled from
    # the runs' suites where they can be loaded (harness/metrics.py: backfill_metric_info)
    (6, [RecordUpgrade("metric_info")]),
    # rating campaigns gain per-rater invitations, the instruction and reference shown with each item,
    # and scores on campaign-defined scales (harness/ratings)
    (7, [rating_raters, rating_item_context, rating_scores]),
]

# Keep this last (every table above gets it): SQLite ignores VARCHAR lengths, PostgreSQL enforces them.
# Unbounded text on PostgreSQL keeps the two stores alike: a sample id, model label or reference that
# fits one fits the other. SQLite's DDL is unchanged.
for _table in metadata.tables.values():
    for _col in _table.columns:
        if isinstance(_col.type, String) and not isinstance(_col.type, Text):
            _col.type = _col.type.with_variant(Text(), "postgresql")
