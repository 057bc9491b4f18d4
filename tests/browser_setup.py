"""What the real-browser tests drive: Debian's Chromium (`.ci/test.sh` installs it with apt-get) through
Playwright's Python package (a dev dependency; never `playwright install`, which would download a
browser of its own). The tests only look for both: when one is missing they fail and say how to get it,
they never install anything and are never skipped."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"


def find_chromium() -> str:
    """The chromium binary: on PATH, else Debian's /usr/bin/chromium."""
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if not found:
        pytest.fail(
            "Chromium is missing: the browser tests drive Debian's chromium, which `.ci/test.sh` installs "
            "(or run `apt-get install -y chromium`)"
        )
    return found


def find_playwright() -> Any:
    """Playwright's `sync_playwright`."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "Playwright's Python package is missing: it is a dev dependency "
            "(`bash .ci/setup.sh dev`, or `pip install playwright`)"
        )
    return sync_playwright
