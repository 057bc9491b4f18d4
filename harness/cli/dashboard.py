"""tunebench dashboard: serve the Streamlit dashboard over the workspace store (read-only)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from ..store import default_url


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


# `streamlit run`, with Streamlit's legacy "pages/ folder" mode switched off first: a folder named pages/
# beside the main script makes Streamlit serve each file in it as a page of its own, without app.py's
# st.navigation (its titles, its sidebar, its shared setup) until app.py happens to run once.
BOOTSTRAP = (
    "import sys; from streamlit.runtime.pages_manager import PagesManager; "
    "PagesManager.uses_pages_directory = False; from streamlit.web.cli import main; sys.argv[0] = 'streamlit'; main()"
)


def command(url: str, port: int, host: str, extra: list[str] | None = None) -> list[str]:
    """The `streamlit run` command line serving the dashboard on the store at `url`."""
    extra = [a for a in (extra or []) if a != "--"]
    return [
        sys.executable,
        "-c",
        BOOTSTRAP,
        "run",
        str(app_path()),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--global.developmentMode",
        "false",
        *extra,
        "--",
        "--store",
        url,
    ]


def main(args: argparse.Namespace) -> int:
    from dashboard.data import STORE_ENV, display_url

    url = args.store or default_url(args.workspace)
    env = {**os.environ, STORE_ENV: url}
    cmd = command(url, args.port, args.host, args.streamlit_args)
    print(
        f"tunebench dashboard on http://{args.host}:{args.port}  (store {display_url(url)}; Ctrl-C stops it)",
        flush=True,
    )
    proc = subprocess.Popen(cmd, env=env)

    def stop(signum: int, _frame: object) -> None:  # SIGTERM to `tunebench dashboard` stops the server too
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
