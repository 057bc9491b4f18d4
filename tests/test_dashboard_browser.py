"""The dashboard in a real headless Chromium: `tunebench dashboard --port PORT` on a filled store, every
page loaded, its content checked in the DOM, a screenshot of each saved (under tmp_path, and also under
$TUNEBENCH_SCREENSHOTS when set).

Chromium comes from Debian's packages: when `chromium` is missing, the test installs it with apt-get
(CI runs as root with Debian's mirrors reachable) and fails, with the reason, when that fails. The
browser is driven with Playwright's Python package when it is installed (never `playwright install`:
it uses /usr/bin/chromium), else with chromium's own `--headless --dump-dom` / `--screenshot`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_dashboard import XSS, XSS_SAMPLE, fill_store

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS_ESCAPED = XSS.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def ensure_chromium() -> str:
    """The chromium binary, installed from Debian's packages when missing (fails with the reason)."""
    found = shutil.which("chromium")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log: list[tuple[bool, str, str]] = []

    def apt(*args: str) -> bool:
        r = subprocess.run(["apt-get", *args], capture_output=True, text=True, timeout=900, env=env)
        log.append((r.returncode == 0, "apt-get " + " ".join(args), (r.stdout + r.stderr)[-1500:]))
        return r.returncode == 0

    try:
        if not apt("install", "-y", "chromium"):  # package lists may be missing: update once, retry
            apt("update")
            apt("install", "-y", "chromium")
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.fail(f"cannot install chromium with apt-get: {e}")
    found = shutil.which("chromium")
    if not found:
        detail = "\n".join(f"$ {cmd} -> {'ok' if ok else 'FAILED'}\n{out}" for ok, cmd, out in log)
        pytest.fail(f"chromium is missing and `apt-get install -y chromium` did not install it:\n{detail}")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tunebench_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "tunebench"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "harness.cli.main"]


@contextlib.contextmanager
def dashboard(url: str, log_path: Path) -> Iterator[str]:
    port = free_port()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*tunebench_cmd(), "--store", url, "dashboard", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    pytest.fail(
                        f"`tunebench dashboard` exited with {proc.returncode}:\n{log_path.read_text()}"
                    )
                try:
                    with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                        if r.read().strip() == b"ok":
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"the dashboard did not answer within 120 s:\n{log_path.read_text()}")
                time.sleep(0.5)
            yield base
        finally:
            proc.terminate()  # tunebench stops its streamlit child on SIGTERM
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def pages(ids: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(name, path, texts the page's DOM must contain). Table cells are drawn on a canvas, so the
    expected texts are titles, captions, metrics and code blocks."""
    a, b = ids["a"], ids["b"]
    return [
        ("runs", "runs", ["Runs", "4 of 4 runs"]),
        (
            "run_detail",
            f"run_detail?run={a}&sample={XSS_SAMPLE}",
            ["Selected sample", f"sample {XSS_SAMPLE}", "**bold**"],
        ),
        (
            "compare",
            f"compare?runs={a},{b}",
            ["Per-metric deltas", "stored comparison", "largest regression first"],
        ),
        ("training", "training", ["Training runs", "tokens / s", "Sweep: hyperparameters against results"]),
        ("gate", "gate", ["FAIL: 1 of 2 rule(s) failed", "regressed beyond margin"]),
        ("judge", "judge", ["Judge reliability", "70.8%", "position consistency", "0.850"]),
        ("trends", "trends", ["Trends", "red diamonds: 1 run(s)"]),
    ]


def check_dom(name: str, html: str, text: str, expected: list[str]) -> None:
    for want in expected:
        assert want in text, f"{name}: {want!r} not on the page"
    assert "Run detail" in text, f"{name}: app.py's navigation is missing"
    assert 'data-testid="stException"' not in html and "Traceback" not in text, f"{name}: the page raised"
    assert "<script>alert(1)</script>" not in html, f"{name}: model text injected as HTML"
    assert "<strong>bold</strong>" not in html, f"{name}: model text rendered as markdown"
    if name == "run_detail":
        assert XSS in text and XSS_ESCAPED in html  # shown literally, escaped in the DOM


def shoot_playwright(chromium: str, base: str, ids: dict[str, Any], out: Path) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for name, path, expected in pages(ids):
            for attempt in range(4):  # a cold Streamlit page can stay blank: reload and wait again
                page.goto(f"{base}/{path}", wait_until="domcontentloaded")
                try:
                    for want in expected:
                        page.get_by_text(want, exact=False).first.wait_for(state="attached", timeout=20_000)
                    break
                except PlaywrightTimeout:
                    if attempt == 3:
                        raise
            page.wait_for_timeout(1500)  # charts draw after the text
            text = page.inner_text("body")
            check_dom(name, page.content(), text, expected)
            height = page.evaluate(
                "Math.max(document.body.scrollHeight,"
                " (document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight)"
            )
            page.set_viewport_size({"width": 1400, "height": min(max(int(height) + 40, 900), 6000)})
            page.wait_for_timeout(500)
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            page.set_viewport_size({"width": 1400, "height": 1000})
        browser.close()
        assert not dialogs, f"a page ran model text as script: {dialogs}"


def shoot_cli(chromium: str, base: str, ids: dict[str, Any], out: Path) -> None:
    profile = tempfile.mkdtemp(prefix="tb-chromium-")
    common = [chromium, "--headless", *CHROMIUM_ARGS, f"--user-data-dir={profile}", "--window-size=1400,2400"]
    try:
        for name, path, expected in pages(ids):
            html = ""
            for budget in (15_000, 30_000, 45_000, 60_000):
                r = subprocess.run(
                    [*common, f"--virtual-time-budget={budget}", "--dump-dom", f"{base}/{path}"],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                html = r.stdout
                if all(_text_in_html(w, html) for w in expected):
                    break
            import html as htmllib
            import re

            text = htmllib.unescape(re.sub(r"<[^>]+>", " ", html))
            text = re.sub(r"\s+", " ", text)
            check_dom(name, html, text, expected)
            subprocess.run(
                [
                    *common,
                    "--virtual-time-budget=20000",
                    f"--screenshot={out / f'{name}.png'}",
                    f"{base}/{path}",
                ],
                capture_output=True,
                timeout=120,
            )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _text_in_html(want: str, html: str) -> bool:
    return want.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in html or want in html


def test_dashboard_in_headless_chromium(tmp_path: Path, make_suite: Any) -> None:
    chromium = ensure_chromium()
    ids = fill_store(tmp_path / "filled", make_suite)
    out = tmp_path / "screenshots"
    out.mkdir()
    try:
        import playwright  # noqa: F401

        driver = shoot_playwright
    except ImportError:
        driver = shoot_cli
    if os.environ.get("TUNEBENCH_BROWSER_DRIVER") == "cli":
        driver = shoot_cli
    with dashboard(ids["url"], tmp_path / "dashboard.log") as base:
        driver(chromium, base, ids, out)
    shots = sorted(p.name for p in out.glob("*.png"))
    assert shots == sorted(f"{name}.png" for name, _, _ in pages(ids))
    assert all((out / s).stat().st_size > 10_000 for s in shots), "a screenshot is blank"
    extra = os.environ.get("TUNEBENCH_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        for s in shots:
            shutil.copy(out / s, Path(extra) / s)
