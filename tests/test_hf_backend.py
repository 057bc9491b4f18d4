"""The transformers backend on a tiny random fp32 Llama: left-padded batching, ordering, token
counts, length and stop handling, log-likelihoods, and PEFT adapters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.models import parse_spec
from harness.models.hf import HFBackend
from harness.runner import generation_key
from harness.types import GenerationConfig

PROMPTS = [
    [{"role": "user", "content": "hi"}],
    [
        {"role": "system", "content": "You triage customer-support tickets."},
        {
            "role": "user",
            "content": "My package has not arrived yet, the tracking number shows no updates since Monday.",
        },
    ],
    [{"role": "user", "content": "refund please"}],
    [{"role": "user", "content": "The app crashes every time I open the settings page on Android. " * 3}],
    [
        {"role": "user", "content": "Could you add a dark mode?"},
        {"role": "assistant", "content": "Maybe."},
        {"role": "user", "content": "When?"},
    ],
]
GREEDY = GenerationConfig(max_new_tokens=12, temperature=0.0)


@pytest.fixture(scope="module")
def fp32_spec(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    ws = tmp_path_factory.mktemp("hf-ws")
    return parse_spec(f"hf:{tiny_model}", workspace=ws, dtype="float32")


@pytest.fixture(scope="module")
def batched(fp32_spec: Any) -> HFBackend:
    return HFBackend(fp32_spec, batch_size=4, device="cpu")


@pytest.fixture(scope="module")
def single(fp32_spec: Any) -> HFBackend:
    return HFBackend(fp32_spec, batch_size=1, device="cpu")


def test_loads_fp32_with_chat_template(batched: HFBackend) -> None:
    import torch

    assert batched.model.dtype == torch.float32
    assert batched.tokenizer.padding_side == "left"
    assert batched.render(PROMPTS[0]) == "<s><|user|>\nhi<|end|>\n<|assistant|>\n"
    assert batched.eos_ids == [batched.tokenizer.convert_tokens_to_ids("<|end|>")]


def test_no_layer_is_swapped_for_a_hub_kernel(batched: HFBackend) -> None:
    # transformers 5.2x kernelizes models by default; on CUDA that resolves kernels on the Hub and
    # failed offline on an H200 (tests/benchmarks/README.md, "On a GPU")
    assert batched.model.use_kernels is False


def test_batched_equals_one_at_a_time(batched: HFBackend, single: HFBackend) -> None:
    """Left padding and attention masks make a padded row decode exactly like the lone prompt."""
    lengths = {
        len(batched.tokenizer(batched.render(p), add_special_tokens=False)["input_ids"]) for p in PROMPTS
    }
    assert len(lengths) == len(PROMPTS)  # all different: every batch is padded
    together = batched.generate(PROMPTS, GREEDY)
    alone = [single.generate([p], GREEDY)[0] for p in PROMPTS]
    assert [c.text for c in together] == [c.text for c in alone]
    assert [c.completion_tokens for c in together] == [c.completion_tokens for c in alone]
    assert [c.finish_reason for c in together] == [c.finish_reason for c in alone]
    assert {c.raw["batch_size"] for c in together} == {4, 1}
    assert any(c.text for c in together)


def test_outputs_in_input_order(batched: HFBackend) -> None:
    forward = batched.generate(PROMPTS, GREEDY)
    backward = batched.generate(PROMPTS[::-1], GREEDY)
    assert [c.text for c in backward] == [c.text for c in forward][::-1]
    assert [c.prompt_tokens for c in backward] == [c.prompt_tokens for c in forward][::-1]


def _record_batches(backend: HFBackend, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The prompt texts of every batch `backend` generates from now on, in batch order."""
    seen: list[list[str]] = []
    inner = backend._generate_rows

    def spy(rows: Any, config: Any, texts: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(list(texts))
        return inner(rows, config, texts, *args, **kwargs)

    monkeypatch.setattr(backend, "_generate_rows", spy)
    return seen


# equal token lengths (checked), different texts: where the batches split, only the tie-break decides
TIES = [[{"role": "user", "content": f"ticket no. {n}"}] for n in range(20, 33)]


def test_batches_depend_on_the_prompt_set_not_its_order(
    batched: HFBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bf16 products round differently with the batch's shape on some CPUs (tests/benchmarks,
    row 5d), so which prompts share a batch must not depend on the order of the data."""
    import random

    prompts = PROMPTS + TIES
    tok = batched.tokenizer
    lengths = [len(tok(batched.render(p), add_special_tokens=False)["input_ids"]) for p in TIES]
    assert len(set(lengths)) == 1  # the tie the order must break
    config = GenerationConfig(max_new_tokens=1)
    seen = _record_batches(batched, monkeypatch)
    forward = batched.generate(prompts, config)
    shuffled = prompts[:]
    random.Random(7).shuffle(shuffled)
    first = [sorted(b) for b in seen]
    seen.clear()
    again = batched.generate(shuffled, config)
    assert [sorted(b) for b in seen] == first
    assert [len(b) for b in first] == [4, 4, 4, 4, 2]
    by_text = {batched.render(p): c.text for p, c in zip(prompts, forward, strict=True)}
    assert [c.text for c in again] == [by_text[batched.render(p)] for p in shuffled]


def test_run_suite_hands_over_the_backends_own_batches(
    batched: HFBackend, fp32_spec: Any, store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_suite gives the backend its samples in chunks (committed per chunk); sorted by the
    backend's batch_key, each chunk is a batch one call with every prompt would form."""
    from builders import CATEGORY_SUITE_YAML

    from harness.runner import run_suite
    from harness.suite import load_suite

    (tmp_path / "data").mkdir()
    (tmp_path / "suite.yaml").write_text(
        CATEGORY_SUITE_YAML.replace("NAME", "order")
        .replace("DESCRIPTION", "t")
        .replace("SPLITS", "test")
        .replace("max_new_tokens: 32", "max_new_tokens: 1")
    )
    contents = [p[-1]["content"] for p in PROMPTS + TIES]
    rows = [
        {
            "id": f"s{i:02d}",
            "messages": [{"role": "user", "content": c}, {"role": "assistant", "content": "{}"}],
        }
        for i, c in enumerate(contents)
    ]
    (tmp_path / "data" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = load_suite(tmp_path)
    seen = _record_batches(batched, monkeypatch)
    rec = run_suite(suite, fp32_spec, store=store, backend=batched, batch_size=4, progress=False)
    assert rec.timing["generated"] == len(contents)
    chunks = [sorted(b) for b in seen]
    texts = [t for b in seen for t in b]
    seen.clear()
    batched.generate_text(texts[::-1], GenerationConfig(max_new_tokens=1))
    assert [sorted(b) for b in seen] == chunks
    assert len(chunks) == 5


def test_stop_criterion_built_once_per_tokenizer(batched: HFBackend, single: HFBackend) -> None:
    """Building transformers' stop-string criterion walks the whole vocabulary (0.9 s for Gemma 3):
    backends sharing a tokenizer share it, one per stop set."""
    assert batched.tokenizer is single.tokenizer
    newline = batched._stopping(("\n",))
    assert newline is not None and single._stopping(("\n",)) is newline
    assert batched._stopping(("}",)) is not newline
    assert batched._stopping(()) is None


def test_progress_reports_every_prompt(batched: HFBackend) -> None:
    seen: list[int] = []
    batched.generate(PROMPTS, GenerationConfig(max_new_tokens=2), progress=seen.append)
    assert sum(seen) == len(PROMPTS) and seen == [4, 1]


def test_prompt_token_counts(batched: HFBackend) -> None:
    outs = batched.generate(PROMPTS, GenerationConfig(max_new_tokens=1))
    tok = batched.tokenizer
    expected = [len(tok(batched.render(p), add_special_tokens=False)["input_ids"]) for p in PROMPTS]
    assert [c.prompt_tokens for c in outs] == expected
    assert expected[0] == len(
        tok.apply_chat_template(PROMPTS[0], tokenize=True, add_generation_prompt=True, return_dict=True)[
            "input_ids"
        ]
    )


def test_max_new_tokens_respected(batched: HFBackend) -> None:
    import torch

    # forbid the end token so every row runs to the limit
    end_bias = {(batched.eos_ids[0],): -1e9}
    cfg = GenerationConfig(max_new_tokens=5)
    outs = batched.generate(PROMPTS, cfg)
    assert all(c.completion_tokens <= 5 for c in outs)
    assert all(c.finish_reason in ("stop", "length") for c in outs)
    assert all(c.completion_tokens == 5 for c in outs if c.finish_reason == "length")
    original = batched.model.generation_config.sequence_bias
    batched.model.generation_config.sequence_bias = end_bias
    try:
        with torch.inference_mode():
            forced = batched.generate(PROMPTS, cfg)
    finally:
        batched.model.generation_config.sequence_bias = original
    assert [(c.completion_tokens, c.finish_reason) for c in forced] == [(5, "length")] * len(PROMPTS)


def test_stop_strings_cut_the_text(batched: HFBackend) -> None:
    free = batched.generate(PROMPTS, GenerationConfig(max_new_tokens=24))
    i, full = max(enumerate(c.text for c in free), key=lambda t: len(t[1].strip()))
    assert len(full.strip()) >= 4, free
    stop = full.strip()[2:4]
    cut = full[: full.find(stop)]
    got = batched.generate([PROMPTS[i]], GenerationConfig(max_new_tokens=24, stop=(stop,)))[0]
    assert got.text == cut
    assert got.finish_reason == "stop"
    assert stop not in got.text


def direct_loglikelihood(backend: HFBackend, ctx: str, cont: str) -> float:
    import torch

    tok = backend.tokenizer
    c = tok(ctx, add_special_tokens=False)["input_ids"] if ctx else [tok.bos_token_id]
    x = tok(cont, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([c + x])
    with torch.inference_mode():
        logits = backend.model(input_ids=ids).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return float(sum(logp[len(c) - 1 + j, t] for j, t in enumerate(x)))


def test_loglikelihood_matches_transformers(batched: HFBackend) -> None:
    requests = [
        (batched.render(PROMPTS[0]), '{"category": "billing"}'),
        (batched.render(PROMPTS[1]), "shipping delay"),
        ("", "Paris is the capital of France."),
        (batched.render(PROMPTS[3]), " crash"),
        (batched.render(PROMPTS[2]), ""),
    ]
    got = batched.loglikelihood(requests)
    tok = batched.tokenizer
    for (ctx, cont), (ll, n) in zip(requests, got, strict=True):
        assert n == len(tok(cont, add_special_tokens=False)["input_ids"])
        if n == 0:
            assert ll == 0.0
            continue
        assert ll < 0
        assert ll == pytest.approx(direct_loglikelihood(batched, ctx, cont), rel=1e-4, abs=1e-4)


@pytest.fixture(scope="module")
def adapter(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("adapter") / "lora"
    base = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
    )
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.5)  # lora_B starts at zero: perturb it so the adapter does something
    model.save_pretrained(out)
    (out / "tunebench_adapter.json").write_text(
        json.dumps({"quantization": "none", "base_precision": "float32"})
    )
    return out


def test_lora_adapter_changes_outputs(
    tiny_model: Path, adapter: Path, fp32_spec: Any, batched: HFBackend, tmp_path: Path
) -> None:
    spec = parse_spec(f"hf:{tiny_model}+lora:{adapter}", workspace=tmp_path, dtype="float32")
    assert spec.adapter == str(adapter.resolve()) and spec.adapter_hash and spec.quantization is None
    assert spec.base_hash == fp32_spec.base_hash
    tuned = HFBackend(spec, batch_size=4, device="cpu")
    from peft import PeftModel

    assert isinstance(tuned.model, PeftModel)
    requests = [(batched.render(p), "refund please") for p in PROMPTS[:3]]
    base_ll = [ll for ll, _ in batched.loglikelihood(requests)]
    tuned_ll = [ll for ll, _ in tuned.loglikelihood(requests)]
    assert all(abs(a - b) > 1e-3 for a, b in zip(base_ll, tuned_ll, strict=True))
    cfg = GenerationConfig(max_new_tokens=8)
    assert [c.text for c in tuned.generate(PROMPTS, cfg)] != [c.text for c in batched.generate(PROMPTS, cfg)]

    # the generation cache never serves base completions to the adapter (or back)
    assert generation_key(spec, cfg, PROMPTS[0]) != generation_key(fp32_spec, cfg, PROMPTS[0])
    assert spec.identity["adapter"] == spec.adapter_hash and fp32_spec.identity["adapter"] is None


def test_adapter_meta_nf4_sets_quantization(tiny_model: Path, adapter: Path, tmp_path: Path) -> None:
    import shutil

    nf4 = Path(shutil.copytree(adapter, tmp_path / "nf4-adapter"))
    (nf4 / "tunebench_adapter.json").write_text(
        json.dumps({"quantization": "nf4", "base_precision": "bfloat16"})
    )
    spec = parse_spec(f"hf:{tiny_model}+lora:{nf4}", workspace=tmp_path)
    assert spec.quantization == "nf4" and spec.identity["quantization"] == "nf4"
    plain = parse_spec(f"hf:{tiny_model}+lora:{adapter}", workspace=tmp_path)
    assert plain.quantization is None
    # same weights, different precision: different cache identity
    assert spec.identity != plain.identity


def test_precision_mismatch_warns(
    tiny_model: Path, adapter: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = parse_spec(f"hf:{tiny_model}+lora:{adapter}", workspace=tmp_path, dtype="bfloat16")
    with pytest.warns(UserWarning, match="trained on a none/float32 base but is loaded on none/bfloat16"):
        HFBackend(spec, batch_size=2, device="cpu")
    assert "[tunebench] warning: adapter" in capsys.readouterr().err

    same = parse_spec(f"hf:{tiny_model}+lora:{adapter}", workspace=tmp_path, dtype="float32")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        HFBackend(same, batch_size=2, device="cpu")
    assert "[tunebench] warning" not in capsys.readouterr().err
