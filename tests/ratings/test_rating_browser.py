"""The rater app in a real headless Chromium, end to end: `tunebench rate serve` on a campaign with
per-rater links; the rater opens her link (logged in, no form), sees the task's instruction, rates
items, reloads mid-way (still logged in, it resumes), finishes; a rater whose name looks like a
Markdown link sees it as text; then the stored ratings, the blinding of every page seen and that no
page fetched anything from outside the server (it works offline).

Setup: Chromium from Debian's packages (`.ci/test.sh` installs it) driven by Playwright's Python
package (see tests/browser_setup.py). When either is missing the test FAILS with the reason: it is
never skipped.
Screenshots go to tmp_path, and also to $TUNEBENCH_SCREENSHOTS when set.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser_setup import find_chromium, find_playwright

from harness.models import parse_spec
from harness.ratings import SCALES, create_campaign
from harness.runner import run_suite
from harness.store import Store, rating_items, ratings
from harness.suite import load_suite

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADAPTER = "/adapters/quokka-lora-3"
N = 8
EVIL = "[x](http://evil.example)"
INSTRUCTION = "Reply with a JSON object."  # the test suite's system prompt


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path, workspace: Path, make_suite: Any) -> Iterator[dict[str, Any]]:
    suite = load_suite(make_suite(tmp_path / "suite", n=10))
    store = Store()
    runs, secrets = [], [ADAPTER, "quokka", "covert-model"]
    for tag in ("p", "q"):
        script = tmp_path / f"covert-model-{tag}.yaml"
        rules = [{"contains": f"ticket test {i}:", "reply": f"answer-{tag}-{i}"} for i in range(10)]
        script.write_text(yaml.safe_dump({"default": "?", "rules": rules}))
        rec = run_suite(suite, parse_spec(f"mock:{script}"), store=store, progress=False)
        if tag == "q":
            model = rec.model.model_copy(
                update={"adapter": ADAPTER, "raw": f"hf:/models/basecamp+lora:{ADAPTER}"}
            )
            rec = rec.model_copy(update={"model": model})
            store.update_run(rec)
        runs.append(rec.id)
        secrets += [rec.id, rec.model.label, str(script)]
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        json.dumps({"input": "What is 2 + 2?", "better": "4", "worse": "Paris is in France."}) + "\n"
    )
    made = create_campaign(store, runs, n=N - 1, gold=gold, raters=["Ann", EVIL])
    port = _free_port()
    tunebench = Path(sys.executable).with_name("tunebench")
    cmd = [str(tunebench), "--store", store.url, "rate", "serve", made.campaign.id, "--port", str(port)]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"`tunebench rate serve` did not come up: {(tmp_path / 'serve.log').read_text()[-2000:]}"
                )
            time.sleep(0.5)
        yield {"url": url, "store": store, "made": made, "runs": runs, "secrets": secrets}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_rater_app_in_chromium(served: dict[str, Any], tmp_path: Path) -> None:
    exe = find_chromium()
    sync_playwright = find_playwright()
    from playwright.sync_api import expect

    shot_dirs = [tmp_path] + (
        [Path(os.environ["TUNEBENCH_SCREENSHOTS"])] if os.environ.get("TUNEBENCH_SCREENSHOTS") else []
    )
    for d in shot_dirs:
        d.mkdir(parents=True, exist_ok=True)
    url, store, made, secrets = served["url"], served["store"], served["made"], served["secrets"]
    cid = made.campaign.id
    link = {name: f"{url}/?t={tok}" for name, tok in made.invites.items()}
    seen: list[tuple[str, str, str]] = []  # (output 1, output 2, choice)
    checked = 0

    def blind(page: Any, rater: str | None = None) -> None:
        nonlocal checked
        html, where = page.content(), page.url
        for s in secrets:
            assert s not in html, f"{s!r} is in the page's DOM"
            assert s not in where, f"{s!r} is in the URL"
        assert "lora" not in html.lower() and "mock:" not in html
        # the only query parameter is the rater's own token
        assert where.replace(url, "") in ("", "/", *([link[rater].replace(url, "")] if rater else [])), where
        if rater != EVIL:  # (that rater's name is a URL, shown as text)
            assert not re.findall(r"https?://(?!127\.0\.0\.1[:/]|www\.w3\.org/)", html), "external URL"
        checked += 1

    def shot(page: Any, name: str) -> None:
        for d in shot_dirs:
            page.screenshot(path=str(d / f"rate-{name}.png"), full_page=True)

    def settle(page: Any) -> None:
        """Wait until the script run is over and no element from the previous run is left (Streamlit
        keeps the last item's form on screen, marked stale, until the new one replaces it)."""
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidgetRunningIcon\"]')"
            " && !document.querySelector('[data-stale=\"true\"]')",
            timeout=30000,
        )

    def rate_one(page: Any, k: int, choice: str) -> None:
        page.get_by_text(f"item {k} ·").wait_for(timeout=30000)
        settle(page)
        blind(page, "ann")
        codes = page.locator("pre code")
        codes.nth(3).wait_for(timeout=10000)
        # a cold page draws the code blocks before their text: wait for instruction, input, outputs
        page.wait_for_function(
            "() => { const c = document.querySelectorAll('pre code');"
            " return c.length >= 4 && [0, 1, 2, 3].every(i => c[i].innerText.trim().length > 0); }",
            timeout=30000,
        )
        assert codes.nth(0).inner_text().strip() == INSTRUCTION  # the rater sees the task's instruction
        o1, o2 = codes.nth(2).inner_text().strip(), codes.nth(3).inner_text().strip()
        if k == 1:
            shot(page, "item")
        groups = page.get_by_role("radiogroup")
        expect(groups).to_have_count(9, timeout=30000)  # the form renders after the texts
        expect(page.get_by_role("button", name="Submit and next")).to_be_enabled(timeout=30000)
        for g in range(8):  # 4 scales for Output 1, then 4 for Output 2
            groups.nth(g).get_by_text("5" if g < 4 else "2", exact=True).click()
        label = {"1": "Output 1", "2": "Output 2", "tie": "Tie", "both_bad": "Both bad"}[choice]
        groups.nth(8).get_by_text(label, exact=True).click()
        for g in range(9):
            assert groups.nth(g).locator("input:checked").count() == 1, f"item {k}: radio group {g} not set"
        page.get_by_role("button", name="Submit and next").click()
        try:
            page.get_by_text(f"Saved item {k}.").wait_for(timeout=30000)
        except Exception:
            shot(page, f"failed-item-{k}")
            raise
        seen.append((o1, o2, choice))

    choices = ["1", "2", "1", "tie", "2", "both_bad", "1", "2"]
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1500})
        page.on("request", lambda r: requests.append(r.url))
        # first request of a fresh server: a page of the main dashboard (dashboard/pages/ sits next
        # to the rater app); it must not exist here, before or after the app has run once
        for path in ("/runs", "/compare", "/ratings"):
            page.goto(url + path)
            page.get_by_role("button", name="Start rating").wait_for(timeout=60000)
            assert "Runs" not in page.content() and "admin token" not in page.content()
            assert page.locator('[data-testid="stSidebarNav"]').count() == 0
            blind(page)
        page.goto(url + "/")
        page.get_by_role("button", name="Start rating").wait_for(timeout=60000)
        shot(page, "login")
        # Ann's personal link logs her in: no name or token to type
        page.goto(link["ann"])
        page.get_by_text("Which answer is better?").wait_for(timeout=60000)
        page.get_by_text("Rater: ann").wait_for(timeout=30000)
        for k in (1, 2, 3):
            rate_one(page, k, choices[k - 1])
        page.reload()  # the URL keeps her token: still logged in, resuming at item 4
        page.get_by_text("item 4 ·").wait_for(timeout=60000)
        assert page.get_by_role("button", name="Start rating").count() == 0
        assert page.url == link["ann"]
        for k in range(4, N + 1):
            rate_one(page, k, choices[k - 1])
        page.get_by_text("All done").wait_for(timeout=30000)
        blind(page, "ann")
        shot(page, "done")
        page.goto(url + "/runs")  # and still no page of the main dashboard
        page.get_by_role("button", name="Start rating").wait_for(timeout=30000)
        assert "Runs" not in page.content()
        blind(page)
        # a name that looks like a Markdown link is drawn as text
        page.goto(link[EVIL])
        page.get_by_text(f"Rater: {EVIL}", exact=True).wait_for(timeout=60000)
        assert page.locator('a[href*="evil"]').count() == 0
        blind(page, EVIL)
        shot(page, "evil-name")
        favicon = page.evaluate("(document.querySelector(\"link[rel='shortcut icon']\") || {}).href || ''")
        browser.close()
    assert checked >= N + 6  # 3 pages at first, every item, done, /runs again, the second rater
    assert favicon.startswith(("data:", url)), f"the favicon is fetched from {favicon}"
    outside = [u for u in requests if not u.startswith((url, "data:", "blob:", "about:"))]
    assert not outside, f"requests that leave the server: {outside[:5]}"

    with store.engine.connect() as conn:
        rows = [
            dict(r) for r in conn.execute(ratings.select().where(ratings.c.campaign_id == cid)).mappings()
        ]
        items = {
            r["token"]: dict(r)
            for r in conn.execute(rating_items.select().where(rating_items.c.campaign_id == cid)).mappings()
        }
    assert len(rows) == N and {r["rater"] for r in rows} == {"ann"}
    pair = [r for r in rows if r["kind"] == "pair"]  # sides counterbalanced: half each way, +-1
    assert abs(2 * sum(r["first"] == "A" for r in pair) - len(pair)) <= 1
    by_texts = {}
    for r in rows:
        it = items[r["item"]]
        first, second = (
            (it["output_a"], it["output_b"]) if r["first"] == "A" else (it["output_b"], it["output_a"])
        )
        by_texts[(first, second)] = (r, it)
    assert set(by_texts) == {
        (o1, o2) for o1, o2, _ in seen
    }  # every page's Output 1/2 matches the stored order
    for o1, o2, choice in seen:
        r, it = by_texts[(o1, o2)]
        if choice in ("tie", "both_bad"):
            assert r["preference"] == choice
        else:
            picked = o1 if choice == "1" else o2
            assert (it["output_a"] if r["preference"] == "A" else it["output_b"]) == picked
            if it["kind"] == "pair":  # the picked text was written by the run the rating names
                run = it["run_a"] if r["preference"] == "A" else it["run_b"]
                tag = "p" if run == served["runs"][0] else "q"
                assert picked.startswith(f"answer-{tag}-")
        shown_first = r["first"].lower()
        other = "b" if shown_first == "a" else "a"
        assert all(r[f"{shown_first}_{s}"] == 5 and r[f"{other}_{s}"] == 2 for s in SCALES)
    for d in shot_dirs:
        assert all((d / f"rate-{n}.png").stat().st_size > 5000 for n in ("login", "item", "done"))
