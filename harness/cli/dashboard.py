"""tunebench dashboard: serve the Streamlit dashboard over the workspace store (read-only)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..store import default_url
from . import streamlit_launch


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dashboard",
        help="serve the dashboard (runs, comparisons, training, gate, judge, trends) over the store",
        description="Start the Streamlit dashboard on the workspace store. It reads the store and never "
        "writes results. Extra Streamlit options go after `--` (e.g. -- --theme.base dark).",
    )
    p.add_argument("--port", type=int, default=8501, help="port to listen on (default 8501)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("streamlit_args", nargs=argparse.REMAINDER, help="options passed to `streamlit run`")
    p.set_defaults(func=main)


def app_path() -> Path:
    import dashboard

    return Path(dashboard.__file__).resolve().parent / "app.py"


def command(url: str, port: int, host: str, extra: list[str] | None = None) -> list[str]:
    """The `streamlit run` command line serving the dashboard on the store at `url`."""
    options = [a for a in (extra or []) if a != "--"]
    return streamlit_launch.command(
        app_path(), port=port, address=host, options=options, script_args=["--store", url]
    )


def main(args: argparse.Namespace) -> int:
    from dashboard.data import STORE_ENV, display_url

    url = args.store or default_url(args.workspace)
    print(
        f"tunebench dashboard on http://{args.host}:{args.port}  (store {display_url(url)}; Ctrl-C stops it)",
        flush=True,
    )
    return streamlit_launch.launch(
        app_path(),
        port=args.port,
        address=args.host,
        env={**os.environ, STORE_ENV: url},
        options=[a for a in (args.streamlit_args or []) if a != "--"],
        script_args=["--store", url],
    )
