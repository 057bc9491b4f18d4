"""The dashboard and the rater app work offline: no page asks the browser to fetch anything from the
internet. Checked on the source (every st.set_page_config's favicon, every URL literal); the
browser tests (test_dashboard_browser.py, tests/ratings/test_rating_browser.py) check the served
pages' requests and HTML."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "dashboard").rglob("*.py"))


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == name
    ]


def _const(node: ast.AST, tree: ast.AST) -> object:
    """The value of a constant argument, or of a module-level NAME = constant it names."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        for n in ast.walk(tree):
            if isinstance(n, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == node.id for t in n.targets
            ):
                return _const(n.value, tree)
    return None


def test_every_page_config_has_a_local_favicon() -> None:
    """A Material-icon favicon is fetched by the browser from fonts.gstatic.com, a URL from wherever
    it points: a favicon must be an emoji (drawn by the browser) or a local file."""
    found = 0
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _calls(tree, "set_page_config"):
            found += 1
            icon = next((k.value for k in call.keywords if k.arg == "page_icon"), None)
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            assert icon is not None, f"{where}: no page_icon (Streamlit's default)"
            value = _const(icon, tree)
            assert isinstance(value, str), f"{where}: page_icon is not a constant"
            assert not value.startswith(":material") and "://" not in value, f"{where}: page_icon {value!r}"
            assert value.isprintable() and len(value) <= 2, f"{where}: page_icon {value!r} is not an emoji"
    assert found >= 2  # the dashboard (app.py) and the rater app


def test_no_external_url_in_the_served_code() -> None:
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for scheme in ("http://", "https://"):
                    assert scheme not in node.value or "127.0.0.1" in node.value, (
                        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:80]!r}"
                    )
