"""The dashboard in a real headless Chromium: `tunebench dashboard --port PORT` on a filled store, every
page loaded, its content checked in the DOM, a screenshot of each saved (under tmp_path, and also under
$TUNEBENCH_SCREENSHOTS when set).

Chromium comes from Debian's packages (`.ci/test.sh` installs it), driven by Playwright's Python package
(see tests/browser_setup.py: the test fails, with the reason, when either is missing). Chromium's own
`--headless --dump-dom` is no substitute: it dumps the page before Streamlit's websocket has delivered
any content.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_setup import find_chromium, find_playwright
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
# a URL in a page's HTML that is not the dashboard's own: XML namespaces (SVG) are names, not fetched
EXTERNAL_URL = re.compile(r"https?://(?!127\.0\.0\.1[:/]|localhost[:/]|www\.w3\.org/)[^\s\"'<>)]+")


def external_requests(urls: list[str], base: str) -> list[str]:
    """The requests a page made that leave the dashboard's server (the dashboard works offline)."""
    return [u for u in urls if not u.startswith((base, "data:", "blob:", "about:"))]


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
        ("runs", "", ["Runs", "4 of 4 runs"]),  # the default page lives at /
        ("runs_path", "runs", ["Runs", "4 of 4 runs"]),  # and /runs opens it too
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
        ("compare3", f"compare?runs={a},{b},{ids['c']}", ["Per-metric deltas", "computed now"]),
        ("training", "training", ["Training runs", "tokens / s", "Sweep: hyperparameters against results"]),
        ("gate", "gate", ["FAIL: 1 of 2 rule(s) failed", "regressed beyond margin"]),
        ("judge", "judge", ["Judge reliability", "70.8%", "position consistency", "0.850"]),
        ("trends", "trends", ["Trends", "red diamonds: 1 run(s)"]),
    ]


def check_dom(name: str, html: str, text: str, expected: list[str]) -> None:
    for want in expected:
        assert want in text, f"{name}: {want!r} not on the page"
    assert "Run detail" in text, f"{name}: app.py's navigation is missing"
    assert "Page not found" not in text, f"{name}: no such page"
    assert 'data-testid="stException"' not in html and "Traceback" not in text, f"{name}: the page raised"
    assert "<script>alert(1)</script>" not in html, f"{name}: model text injected as HTML"
    assert "<strong>bold</strong>" not in html, f"{name}: model text rendered as markdown"
    if name == "run_detail":
        assert XSS in text and XSS_ESCAPED in html  # shown literally, escaped in the DOM
    assert not EXTERNAL_URL.findall(html), f"{name}: external URL(s) {EXTERNAL_URL.findall(html)[:5]}"


def shoot(chromium: str, base: str, ids: dict[str, Any], out: Path) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
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
            for attempt in range(20):  # a rerun may be redrawing the page: look again shortly
                try:
                    check_dom(name, page.content(), page.inner_text("body"), expected)
                    break
                except AssertionError:
                    if attempt == 19:
                        raise
                    page.wait_for_timeout(500)
            height = page.evaluate(
                "Math.max(document.body.scrollHeight,"
                " (document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight)"
            )
            page.set_viewport_size({"width": 1400, "height": min(max(int(height) + 40, 900), 6000)})
            page.wait_for_timeout(500)
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            page.set_viewport_size({"width": 1400, "height": 1000})
        # select the newest run's row in the Runs table: the Run detail page opens on it
        page.goto(f"{base}/", wait_until="domcontentloaded")
        grid = page.locator('[data-testid="stDataFrame"]').first
        grid.wait_for(state="visible", timeout=30_000)
        page.wait_for_timeout(1500)
        box = grid.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)  # the first row's selection checkbox
        page.get_by_text("Selected sample").first.wait_for(state="attached", timeout=30_000)
        assert f"run={ids['a2']}" in page.url, page.url
        favicon = page.evaluate("(document.querySelector(\"link[rel='shortcut icon']\") || {}).href || ''")
        browser.close()
        assert not dialogs, f"a page ran model text as script: {dialogs}"
        assert favicon.startswith(("data:", base)), f"the favicon is fetched from {favicon}"
        assert not external_requests(requests, base), external_requests(requests, base)


def test_dashboard_in_headless_chromium(tmp_path: Path, make_suite: Any) -> None:
    chromium = find_chromium()
    ids = fill_store(tmp_path / "filled", make_suite)
    out = tmp_path / "screenshots"
    out.mkdir()
    find_playwright()
    with dashboard(ids["url"], tmp_path / "dashboard.log") as base:
        shoot(chromium, base, ids, out)
    shots = sorted(p.name for p in out.glob("*.png"))
    assert shots == sorted(f"{name}.png" for name, _, _ in pages(ids))
    assert all((out / s).stat().st_size > 10_000 for s in shots), "a screenshot is blank"
    extra = os.environ.get("TUNEBENCH_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        for s in shots:
            shutil.copy(out / s, Path(extra) / s)
