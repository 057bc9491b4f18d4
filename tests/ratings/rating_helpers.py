"""Shared setup of the rating tests (tests/ratings/): a store with three mock runs of one 12-sample
suite, and helpers that drive the rater app through AppTest. The `env` fixture is in conftest.py.

The runs answer "reply-x-i", "reply-y-i" and "reply-z-i", so a test can tell from a text which run
wrote it. Run Z is re-labelled as a LoRA adapter so the blinding checks also look for an adapter
path. Nothing in any output names a run or a model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.models import parse_spec
from harness.ratings import SCALES, next_item, save_rating
from harness.runner import run_suite
from harness.store import Store, rating_items, ratings
from harness.suite import load_suite
from harness.types import PromptConfig

N_SAMPLES = 12
APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "rate_app.py")
ADAPTER = "/adapters/zebra-lora-7"
BASE = "/models/base-gemma-270m-xq"
GOLD = [
    {"input": "What is 2 + 2?", "better": "4", "worse": "The capital of France is Paris."},
    {"input": "Spell 'cat' backwards.", "better": "tac", "worse": "dog"},
]
FULL = {"1": dict.fromkeys(SCALES, 4), "2": dict.fromkeys(SCALES, 3)}


@dataclass
class Env:
    root: Path
    store: Store
    runs: dict[str, str]  # "x" / "y" / "z" -> run id
    secrets: list[str]  # strings a rater must never see

    def tag_of(self, text: str) -> str:
        return text.split("-")[1]  # "reply-x-3" -> "x"


def mock_script(path: Path, tag: str) -> str:
    rules = [{"contains": f"ticket test {i}:", "reply": f"reply-{tag}-{i}"} for i in range(N_SAMPLES)]
    path.write_text(yaml.safe_dump({"default": "?", "rules": rules}))
    return f"mock:{path}"


def make_env(tmp_path: Path, make_suite: Any) -> Env:
    suite = load_suite(make_suite(tmp_path / "rate-suite", n=N_SAMPLES))
    store = Store()
    runs, secrets = {}, []
    for tag, script in (("x", "secret-model-alpha"), ("y", "secret-model-beta"), ("z", "secret-model-gamma")):
        spec = parse_spec(mock_script(tmp_path / f"{script}.yaml", tag))
        prompt = PromptConfig(name="covert-prompt-9", template="{input}") if tag == "y" else None
        rec = run_suite(suite, spec, store=store, progress=False, prompt=prompt)
        if tag == "z":  # label it as a fine-tuned adapter: its path must never reach a rater
            model = rec.model.model_copy(update={"adapter": ADAPTER, "raw": f"hf:{BASE}+lora:{ADAPTER}"})
            rec = rec.model_copy(update={"model": model})
            store.update_run(rec)
        runs[tag] = rec.id
        secrets += [rec.id, rec.model.label, script, str(tmp_path / f"{script}.yaml")]
    secrets += [ADAPTER, "zebra-lora", BASE, "covert-prompt"]
    return Env(tmp_path, store, runs, secrets)


def gold_file(env: Env) -> Path:
    p = env.root / "gold.jsonl"
    p.write_text("\n".join(json.dumps(g) for g in GOLD) + "\n")
    return p


def item_row(store: Store, token: str) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return dict(conn.execute(rating_items.select().where(rating_items.c.token == token)).mappings().one())


def rating_rows(store: Store, cid: str) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [
            dict(r) for r in conn.execute(ratings.select().where(ratings.c.campaign_id == cid)).mappings()
        ]


def rate_all(env: Env, cid: str, tok: str, rater: str, prefer: str, gold_right: bool) -> None:
    """`prefer`: the run tag ("x", "y", "z") this rater always picks when it is shown."""
    while (it := next_item(env.store, cid, tok, rater)) is not None:
        if it.output_1 in ("4", "tac", "dog") or "Paris" in it.output_1:  # a gold item
            good = "1" if it.output_1 in ("4", "tac") else "2"
            choice = good if gold_right else ("2" if good == "1" else "1")
        elif f"reply-{prefer}" in it.output_1:
            choice = "1"
        elif f"reply-{prefer}" in it.output_2:
            choice = "2"
        else:  # prefer the alphabetically earlier run of the other two
            choice = "1" if env.tag_of(it.output_1) < env.tag_of(it.output_2) else "2"
        save_rating(env.store, cid, tok, rater, it.token, choice, FULL)


def rater_app(env: Env, cid: str, monkeypatch: pytest.MonkeyPatch, link: str | None = None) -> Any:
    """The rater app, run once; `link`: a personal token, as in `?t=TOKEN` (the rater's link)."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TUNEBENCH_STORE", env.store.url)
    monkeypatch.setenv("TUNEBENCH_RATE_CAMPAIGN", cid)
    at = AppTest.from_file(APP, default_timeout=30)
    if link is not None:
        at.query_params["t"] = link
    return at.run()


def log_in(at: Any, name: str, token: str) -> Any:
    at.text_input[0].input(name)
    at.text_input[1].input(token)
    return next(b for b in at.button if b.label == "Start rating").click().run()


def shown_item(at: Any) -> str:
    """The token of the item on the rater's page (from its widget keys)."""
    key = next(r.key for r in at.radio if r.key.startswith("pref-"))
    return str(key[len("pref-") :])


def fill_in(at: Any, choice: str, comment: str = "fine", scales: Sequence[str] = SCALES) -> Any:
    """Answer every scale (4 for Output 1, 2 for Output 2), the preference and the comment."""
    tok = shown_item(at)
    for i in ("1", "2"):
        for s in scales:
            at.radio(key=f"{s}-{i}-{tok}").set_value(4 if i == "1" else 2)
    at.radio(key=f"pref-{tok}").set_value(choice)
    at.text_area(key=f"comment-{tok}").input(comment)
    return at


def submit(at: Any) -> Any:
    return next(b for b in at.button if b.label == "Submit and next").click().run()


def rate_in_app(at: Any, choice: str, comment: str = "fine", scales: Sequence[str] = SCALES) -> Any:
    return submit(fill_in(at, choice, comment, scales))


def walk(node: Any) -> list[str]:
    """Every element's protobuf (labels, values, help, options, widget ids) as text, recursively."""
    out = [str(getattr(node, "proto", ""))]
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for ch in children.values():
            out += walk(ch)
    return out


def assert_blind(at: Any, env: Env) -> None:
    assert not at.exception
    texts = walk(at._tree)
    texts += [f"{k}={v!r}" for k, v in at.session_state.to_dict().items()]
    texts += [str(at.query_params)]
    blob = "\n".join(texts)
    for s in env.secrets:
        assert s not in blob, f"{s!r} reached the rater's page"
    assert "mock:" not in blob and "lora" not in blob.lower()
