"""Exact identity on a real (tiny) hf model: a changed chat template or tokenizer file is another
model to the generation cache, and sampled outputs are seeded per sample, not per batch."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from harness.models import parse_spec
from harness.models.hf import HFBackend
from harness.models.sampling import PerSampleSampler, sample_seed, top_p_filter
from harness.runner import run_suite
from harness.store import Store
from harness.suite import load_suite
from harness.types import GenerationConfig


def _run(suite_dir: Path, model: Path, ws: Path) -> Any:
    spec = parse_spec(f"hf:{model}", workspace=ws, dtype="float32")
    return run_suite(load_suite(suite_dir), spec, store=Store(workspace=ws), limit=2, progress=False)


def _edit_template(model: Path) -> None:
    # transformers writes the chat template to chat_template.jinja
    tpl = model / "chat_template.jinja"
    assert tpl.is_file()
    text = tpl.read_text()
    tpl.write_text(text.replace("'<|assistant|>", "'<|assistant|> "))
    assert tpl.read_text() != text


def _template_in_tokenizer_config(model: Path) -> None:
    # the older layout: no .jinja file, the template is the chat_template key of tokenizer_config.json
    tpl = model / "chat_template.jinja"
    cfg_path = model / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    text = tpl.read_text()
    cfg["chat_template"] = text.replace("'<|assistant|>", "'<|assistant|> ")
    assert cfg["chat_template"] != text
    tpl.unlink()
    cfg_path.write_text(json.dumps(cfg))


def _edit_tokenizer(model: Path) -> None:
    # a tokenizer file whose bytes change (a setting that does not alter the prompt text)
    cfg_path = model / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["model_max_length"] = 77
    cfg_path.write_text(json.dumps(cfg, indent=1))


@pytest.mark.parametrize(
    "change", [_edit_template, _template_in_tokenizer_config, _edit_tokenizer], ids=lambda f: f.__name__
)
def test_changed_template_or_tokenizer_misses_the_cache(
    change: Any, tiny_model: Path, tiny_suite: Path, tmp_path: Path
) -> None:
    model = Path(shutil.copytree(tiny_model, tmp_path / "model"))
    ws = tmp_path / "ws"
    first = _run(tiny_suite, model, ws)
    assert first.timing["generated"] == 2
    assert _run(tiny_suite, model, ws).timing["generated"] == 0  # unchanged: served from the cache
    time.sleep(0.05)  # past the kernel's coarse file timestamps
    change(model)
    again = _run(tiny_suite, model, ws)
    assert again.model.base_hash != first.model.base_hash
    assert again.timing["generated"] == 2, "a changed template/tokenizer must not be served old outputs"
    if change is not _edit_tokenizer:  # the new template reached the prompt the model saw
        texts = [r.prompt_text for r in Store(workspace=ws).iter_results(again.id)]
        old = [r.prompt_text for r in Store(workspace=ws).iter_results(first.id)]
        assert texts != old


def test_hub_model_pinned_to_its_commit_through_the_runner(
    tiny_model: Path, tiny_suite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    # a local folder in the Hugging Face cache layout: refs/main -> commit, snapshots/<commit>/
    hub = tmp_path / "hub"
    repo = hub / "models--acme--tiny"
    old, new = "1" * 40, "2" * 40
    shutil.copytree(tiny_model, repo / "snapshots" / old)
    shutil.copytree(tiny_model, repo / "snapshots" / new)
    _edit_template(repo / "snapshots" / new)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(old)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))  # what transformers reads
    ws = tmp_path / "ws"
    store = Store(workspace=ws)

    def run() -> Any:
        spec = parse_spec("hf:acme/tiny", workspace=ws, dtype="float32")
        return run_suite(load_suite(tiny_suite), spec, store=store, limit=2, progress=False)

    first = run()
    assert first.model.revision == old and store.get_run(first.id).model.revision == old
    assert run().timing["generated"] == 0
    (repo / "refs" / "main").write_text(new)  # main moved on the hub and was downloaded
    moved = run()
    assert moved.model.revision == new and moved.timing["generated"] == 2
    new_texts = [r.prompt_text for r in store.iter_results(moved.id)]
    assert new_texts != [r.prompt_text for r in store.iter_results(first.id)]  # the new commit's template


# -- sampling seeded per sample -------------------------------------------------------------------

PROMPTS = [
    [{"role": "user", "content": "refund please"}],
    [{"role": "user", "content": "My package has not arrived yet, the tracking number shows nothing."}],
    [{"role": "user", "content": "hi"}],
    [{"role": "user", "content": "The app crashes every time I open the settings page on Android."}],
]
SAMPLED = GenerationConfig(max_new_tokens=10, temperature=1.0, top_p=0.95, seed=7)


@pytest.fixture(scope="module")
def backends(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[HFBackend, HFBackend]:
    spec = parse_spec(f"hf:{tiny_model}", workspace=tmp_path_factory.mktemp("ws"), dtype="float32")
    return HFBackend(spec, batch_size=4, device="cpu"), HFBackend(spec, batch_size=1, device="cpu")


def test_sampled_output_does_not_depend_on_the_batch(backends: tuple[HFBackend, HFBackend]) -> None:
    batched, single = backends
    target = PROMPTS[0]
    alone = single.generate([target], SAMPLED)[0].text
    in_batch = batched.generate(PROMPTS, SAMPLED)[0].text
    other_batch = batched.generate([PROMPTS[3], PROMPTS[2], target], SAMPLED)[2].text
    assert alone == in_batch == other_batch
    # it is sampling: other seeds give other texts, and repeated calls the same one
    others = {batched.generate([target], SAMPLED.model_copy(update={"seed": s}))[0].text for s in range(1, 6)}
    assert len(others | {alone}) > 1
    assert batched.generate([target], SAMPLED)[0].text == alone


def test_greedy_is_unchanged(backends: tuple[HFBackend, HFBackend]) -> None:
    batched, single = backends
    greedy = GenerationConfig(max_new_tokens=8)
    assert [c.text for c in batched.generate(PROMPTS, greedy)] == [
        single.generate([p], greedy)[0].text for p in PROMPTS
    ]


def test_per_sample_sampler_rows_are_independent() -> None:
    import torch

    assert sample_seed(0, "a") == sample_seed(0, "a") != sample_seed(1, "a") != sample_seed(0, "b")
    torch.manual_seed(0)
    scores = torch.randn(3, 50)
    picks_together = PerSampleSampler([11, 22, 33], 1.0)(None, scores).argmax(-1)
    for r, seed in enumerate([11, 22, 33]):
        alone = PerSampleSampler([seed], 1.0)(None, scores[r : r + 1]).argmax(-1)
        assert int(alone[0]) == int(picks_together[r])
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = top_p_filter(probs, 0.7)
    assert (kept > 0).tolist() == [[True, True, False, False]]  # the smallest set reaching 0.7
