"""tunebench rate: blinded human rating campaigns (create, serve the rater app, results, list)."""

from __future__ import annotations

import argparse
import os
from urllib.parse import urlencode

from ..errors import InputError
from . import streamlit_launch
from .common import open_store

CAMPAIGN_ENV = "TUNEBENCH_RATE_CAMPAIGN"
STORE_ENV = "TUNEBENCH_STORE"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rate",
        help="blinded human rating of run outputs: create a campaign, serve the rater app, read results",
        description="Blinded pairwise human ratings. `create` samples items from two or more runs of one "
        "suite (every pair of runs), `serve` starts the rater app (a separate Streamlit app that never shows "
        "which run wrote an output), `results` reports win rates, Bradley-Terry strengths, inter-rater "
        "agreement, gold accuracy and judge agreement (admin token required).",
    )
    rs = p.add_subparsers(dest="rate_command", metavar="SUBCOMMAND")

    c = rs.add_parser(
        "create",
        help="create a campaign; prints its id, the rater links (or the shared rater token) and the admin token",
    )
    c.add_argument(
        "--runs", nargs="+", required=True, metavar="RUN", help="two or more run ids (or unique prefixes)"
    )
    c.add_argument(
        "--n", type=int, default=50, help="sample ids to draw (default 50); items = n x pairs of runs"
    )
    c.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    c.add_argument(
        "--gold",
        metavar="FILE",
        help='attention checks: JSONL of {"input": ..., "better": ..., "worse": ...}, mixed into every rater\'s items',
    )
    c.add_argument(
        "--overlap",
        type=float,
        default=1.0,
        help="share of items every rater rates (agreement is measured on these); the rest go to one rater "
        "each (default 1.0)",
    )
    c.add_argument(
        "--raters",
        metavar="NAMES",
        help="comma-separated rater names: one personal link each (the name comes from the link; nobody can "
        "rate as another). Without it: one shared token, raters type their name",
    )
    c.add_argument(
        "--scales",
        metavar="FILE",
        help="YAML list of {name, description, required}: the 1-5 scales raters score each output on "
        "(default: accuracy, format, tone, completeness)",
    )
    c.add_argument(
        "--show-reference", action="store_true", help="show raters the reference answer with each item"
    )
    c.add_argument("--port", type=int, default=8502, help="port shown in the serve command (default 8502)")
    c.add_argument(
        "--link-base",
        metavar="URL",
        help="where raters reach the rater app, for the links (default http://127.0.0.1:PORT)",
    )
    c.set_defaults(rate_func=create)

    s = rs.add_parser("serve", help="start the rater app (Streamlit, headless, 127.0.0.1)")
    s.add_argument("campaign", metavar="CAMPAIGN")
    s.add_argument("--port", type=int, default=8502, help="port (default 8502)")
    s.add_argument("--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.set_defaults(rate_func=serve)

    r = rs.add_parser("results", help="win rates, Bradley-Terry, agreement, gold accuracy, judge kappa")
    r.add_argument("campaign", metavar="CAMPAIGN")
    r.add_argument("--admin-token", required=True, help="the admin token printed by `rate create`")
    r.add_argument("--format", choices=["text", "json"], default="text", help="output format (default text)")
    r.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    r.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    r.add_argument(
        "--gold-threshold", type=float, default=0.8, help="flag raters below this gold accuracy (0.8)"
    )
    r.add_argument(
        "--exclude-flagged", action="store_true", help="leave flagged raters out of the statistics"
    )
    r.set_defaults(rate_func=results)

    ls = rs.add_parser("list", help="list campaigns (no tokens)")
    ls.set_defaults(rate_func=list_)
    p.set_defaults(func=lambda args: _dispatch(args, p))


def _dispatch(args: argparse.Namespace, p: argparse.ArgumentParser) -> int:
    fn = getattr(args, "rate_func", None)
    if fn is None:
        p.print_help()
        return 2
    return int(fn(args) or 0)


def _rater_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise InputError("--raters needs one or more names", hint="--raters alice,bob")
    return names


def rater_link(base: str, token: str) -> str:
    """The rater's personal link: the app reads the token from `?t=` (a reload keeps the session)."""
    return f"{base.rstrip('/')}/?{urlencode({'t': token})}"


def create(args: argparse.Namespace) -> int:
    from ..ratings import create_campaign, load_scales

    raters = _rater_names(args.raters)
    scales = load_scales(args.scales) if args.scales else None
    store = open_store(args)
    made = create_campaign(
        store,
        args.runs,
        n=args.n,
        seed=args.seed,
        gold=args.gold,
        overlap=args.overlap,
        raters=raters,
        scales=scales,
        show_reference=args.show_reference,
    )
    c = made.campaign
    print(f"created rating campaign {c.id}")
    print(
        f"  suite {c.suite}@{c.suite_version}  split {c.split}  {len(c.runs)} runs, {len(c.runs) * (len(c.runs) - 1) // 2} pair(s)"
    )
    print(
        f"  {c.n_samples} samples -> {c.n_items} items + {c.n_gold} gold; overlap {c.overlap:g}, seed {c.seed}"
    )
    print(
        f"  scales: {', '.join(sc.name + ('' if sc.required else ' (optional)') for sc in c.scales)}"
        + ("; raters see the reference answer" if c.show_reference else "")
    )
    for note in c.notes:
        print(f"  note: {note}")
    if made.invites:
        base = args.link_base or f"http://127.0.0.1:{args.port}"
        print("rater links (one per rater: send each rater their own; the link is their login):")
        width = max(len(n) for n in made.invites)
        for name, tok in made.invites.items():
            print(f"  {name.ljust(width)}  {rater_link(base, tok)}")
    else:
        print(f"rater token (give to raters):  {made.rater_token}")
        print("  (one token for everyone: raters type their name; --raters NAMES gives each a personal link)")
    print(f"admin token (keep; results):   {made.admin_token}")
    store_opt = (
        f" --store {args.store}"
        if args.store
        else (f" --workspace {args.workspace}" if args.workspace else "")
    )
    print("start the rater app:")
    print(f"  tunebench{store_opt} rate serve {c.id} --port {args.port}")
    print("results:")
    print(f"  tunebench{store_opt} rate results {c.id} --admin-token {made.admin_token}")
    return 0


RATER_APP = "dashboard.rate_app"
"""Served as a module, from a launcher alone in a temporary folder: no page of the main dashboard
(dashboard/pages/ sits beside rate_app.py) can ever reach a rater (see streamlit_launch.launch)."""
RATER_OPTIONS = [
    "--server.runOnSave", "false",
    "--client.toolbarMode", "minimal",
    "--client.showErrorDetails", "none",
]  # fmt: skip


def serve(args: argparse.Namespace) -> int:
    from ..ratings import get_campaign

    store = open_store(args)
    c = get_campaign(store, args.campaign)
    if not 1 <= args.port <= 65535:
        raise InputError(f"--port must be 1-65535, got {args.port}")
    env = {
        **os.environ,
        STORE_ENV: store.url,
        CAMPAIGN_ENV: c.id,
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    print(f"rater app for campaign {c.id}: http://{args.address}:{args.port}  (Ctrl-C stops it)", flush=True)
    return streamlit_launch.launch(
        RATER_APP, port=args.port, address=args.address, env=env, options=RATER_OPTIONS
    )


def results(args: argparse.Namespace) -> int:
    from reports.console.ratings import render_results

    from ..ratings import campaign_results

    if args.n_boot < 1:
        raise InputError(f"--n-boot must be >= 1, got {args.n_boot}")
    store = open_store(args)
    res = campaign_results(
        store,
        args.campaign,
        args.admin_token,
        n_boot=args.n_boot,
        seed=args.seed,
        gold_threshold=args.gold_threshold,
        exclude_flagged=args.exclude_flagged,
    )
    print(res.model_dump_json(indent=2) if args.format == "json" else render_results(res))
    return 0


def list_(args: argparse.Namespace) -> int:
    from ..fmt import table
    from ..ratings import count_ratings, list_campaigns

    store = open_store(args)
    cs = list_campaigns(store)
    if not cs:
        print("no rating campaigns (`tunebench rate create --runs A B`)")
        return 0
    rows = [
        (
            c.id,
            c.created_at,
            f"{c.suite}@{c.suite_version}",
            len(c.runs),
            c.n_items,
            c.n_gold,
            count_ratings(store, c.id),
        )
        for c in cs
    ]
    print(table(["campaign", "created", "suite", "runs", "items", "gold", "ratings"], rows, "lllrrrr"))
    return 0
