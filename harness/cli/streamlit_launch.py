"""Starting a Streamlit app from the CLI (`tunebench dashboard`, `tunebench rate serve`): one command
line, one answer to Streamlit's `pages/` folder, one way of stopping the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

# `streamlit run`, with Streamlit's legacy "pages/ folder" mode switched off first: a folder named pages/
# beside the main script makes Streamlit serve each file in it as a page of its own, without app.py's
# st.navigation (its titles, its sidebar, its shared setup) until app.py happens to run once.
BOOTSTRAP = (
    "import sys; from streamlit.runtime.pages_manager import PagesManager; "
    "PagesManager.uses_pages_directory = False; from streamlit.web.cli import main; sys.argv[0] = 'streamlit'; main()"
)

LAUNCHER = "from {module} import main\n\nmain()\n"
"""The script that serves an app given as a module: it calls the module's main()."""


def command(
    script: str | Path,
    *,
    port: int,
    address: str,
    options: Sequence[str] = (),
    script_args: Sequence[str] = (),
) -> list[str]:
    """The `streamlit run` command line: headless, no usage statistics, no file watcher, then
    `options` (more Streamlit options) and, after `--`, `script_args` for the script itself."""
    return [
        sys.executable,
        "-c",
        BOOTSTRAP,
        "run",
        str(script),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--global.developmentMode",
        "false",
        *options,
        *(["--", *script_args] if script_args else []),
    ]


def launch(
    app: str | Path,
    *,
    port: int,
    address: str,
    env: Mapping[str, str] | None = None,
    options: Sequence[str] = (),
    script_args: Sequence[str] = (),
) -> int:
    """Serve `app` with Streamlit until the server exits, Ctrl-C or SIGTERM (both stop the server
    too). A Path is served as it is, beside its own folder (the dashboard's app.py with its pages/).
    A module name (a str with a `main()`) is served from a one-line launcher alone in a temporary
    folder: Streamlit serves a pages/ folder beside the main script on its own until the script has
    run once, and the rater app sits beside the main dashboard's pages/; run from there, no page of
    the dashboard can ever reach a rater. Returns the server's exit code, 130 when stopped."""

    def stop(signum: int, _frame: object) -> None:  # SIGTERM unwinds like Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with tempfile.TemporaryDirectory(prefix="tunebench-streamlit-") as tmp:
            if isinstance(app, Path):
                script = app
            else:
                script = Path(tmp) / "app.py"
                script.write_text(LAUNCHER.format(module=app), encoding="utf-8")
            cmd = command(script, port=port, address=address, options=options, script_args=script_args)
            proc = subprocess.Popen(cmd, env=dict(env) if env is not None else dict(os.environ))
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
