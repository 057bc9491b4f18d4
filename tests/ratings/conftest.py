"""Every test in this folder runs on SQLite and on PostgreSQL (tests/conftest.py: store_url)."""

import pytest


@pytest.fixture(autouse=True)
def _on_both_stores(default_store_on_both: str) -> str:
    return default_store_on_both
