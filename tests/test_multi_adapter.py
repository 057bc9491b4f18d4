"""Several LoRA adapters on one loaded base (harness/models/multi.py, issue 8 part 5): every
adapter's outputs equal a separate `hf:BASE+lora:A` load, and its cache keys are the separate
load's keys. The speed figure (one base, three adapters vs three loads) is in
tests/benchmarks/bench_multi_adapter.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness import load_suite, parse_spec
from harness.models.hf import HFBackend
from harness.models.multi import MultiAdapterHF, run_adapters
from harness.runner import generation_key, run_suite
from harness.store import Store
from harness.types import GenerationConfig

PROMPTS = [
    [{"role": "user", "content": "I was charged twice for my subscription."}],
    [{"role": "system", "content": "Reply in JSON."}, {"role": "user", "content": "My parcel has not arrived."}],
    [{"role": "user", "content": "The app crashes when I open settings."}],
]
CFG = GenerationConfig(max_new_tokens=8)


def make_adapter(base: Path, out: Path, seed: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0),
    )
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.5)  # lora_B starts at zero: perturb it so each adapter differs
    model.save_pretrained(out)
    (out / "tunebench_adapter.json").write_text(json.dumps({"quantization": "none", "base_precision": "float32"}))
    return out


@pytest.fixture(scope="module")
def adapters(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return {name: make_adapter(tiny_model, root / name, seed) for name, seed in (("a", 1), ("b", 2), ("c", 3))}


def test_outputs_and_cache_keys_equal_separate_loads(
    tiny_model: Path, adapters: dict[str, Path], tmp_path: Path
) -> None:
    base = parse_spec(f"hf:{tiny_model}", workspace=tmp_path, dtype="float32")
    multi = MultiAdapterHF(base, adapters, batch_size=2, device="cpu", workspace=tmp_path)
    assert not multi.loaded  # specs and keys are known before anything is loaded
    texts: dict[str, list[str]] = {}
    # switch back and forth: a, b, c, then a again
    for name in ["a", "b", "c", "a"]:
        view = multi.backend(name)
        got = [c.text for c in view.generate(PROMPTS, CFG)]
        if name in texts:
            assert got == texts[name]
        texts[name] = got
    assert len({tuple(t) for t in texts.values()}) == 3  # the adapters really differ
    for name, path in adapters.items():
        single_spec = parse_spec(f"hf:{tiny_model}+lora:{path}", workspace=tmp_path, dtype="float32")
        view = multi.backend(name)
        assert view.spec.identity == single_spec.identity
        assert [generation_key(view.spec, CFG, p) for p in PROMPTS] == [
            generation_key(single_spec, CFG, p) for p in PROMPTS
        ]
        single = HFBackend(single_spec, batch_size=2, device="cpu")
        assert [c.text for c in single.generate(PROMPTS, CFG)] == texts[name]
        reqs = [(view.render(PROMPTS[0]), " refund")]
        assert view.loglikelihood(reqs)[0][0] == pytest.approx(single.loglikelihood(reqs)[0][0], abs=1e-4)


def test_run_adapters_shares_the_cache_with_single_loads(
    tiny_model: Path, adapters: dict[str, Path], workspace: Path, tiny_suite: Path
) -> None:
    suite = load_suite(tiny_suite)
    store = Store()
    base = parse_spec(f"hf:{tiny_model}", dtype="float32")
    records = run_adapters(suite, base, adapters, store, split="test", limit=4, batch_size=4)
    assert [r.model.adapter for r in records] == [str(p.resolve()) for p in adapters.values()]
    assert all(r.status == "completed" and r.timing["generated"] == 4 for r in records)

    class NoModel:
        def __init__(self, spec: Any):
            self.spec = spec

        def generate(self, *_a: Any, **_k: Any) -> Any:
            raise AssertionError("a separate load of the same adapter must be served from the cache")

    for name, path in adapters.items():
        single_spec = parse_spec(f"hf:{tiny_model}+lora:{path}", dtype="float32")
        rec = run_suite(suite, single_spec, store=store, split="test", limit=4, backend=NoModel(single_spec),
                        progress=False)
        assert rec.timing["generated"] == 0
        mine = next(r for r in records if r.model.adapter == single_spec.adapter)
        assert rec.metrics == mine.metrics, name
