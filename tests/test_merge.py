"""`tunebench merge`: the merged model's greedy outputs equal the adapter's on a suite."""

from __future__ import annotations

from pathlib import Path

import torch

from harness import Store, load_suite, parse_spec, run_suite
from harness.cli.main import main as cli


def _make_adapter(base: Path, out: Path) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    peft_model.save_pretrained(out)
    return out


def test_merged_outputs_equal_adapter_outputs(tmp_path: Path, tiny_model: Path, tiny_suite: Path) -> None:
    adapter = _make_adapter(tiny_model, tmp_path / "adapter")
    merged = tmp_path / "merged"
    ws = tmp_path / "ws"
    assert (
        cli(
            [
                "--workspace",
                str(ws),
                "merge",
                str(adapter),
                "--out",
                str(merged),
                "--base",
                str(tiny_model),
                "--dtype",
                "float32",
            ]
        )
        == 0
    )
    assert (merged / "config.json").exists() and not (merged / "adapter_config.json").exists()
    suite = load_suite(tiny_suite)
    store = Store(workspace=ws)
    with_adapter = run_suite(
        suite, parse_spec(f"hf:{tiny_model}+lora:{adapter}", dtype="float32"), store=store, progress=False
    )
    merged_run = run_suite(suite, parse_spec(f"hf:{merged}", dtype="float32"), store=store, progress=False)
    base_run = run_suite(suite, parse_spec(f"hf:{tiny_model}", dtype="float32"), store=store, progress=False)
    a = [r.completion.text for r in store.iter_results(with_adapter.id)]
    m = [r.completion.text for r in store.iter_results(merged_run.id)]
    b = [r.completion.text for r in store.iter_results(base_run.id)]
    assert a == m
    assert a != b  # the adapter really changes the model, so equality above means something
    assert with_adapter.timing["generated"] > 0 and merged_run.timing["generated"] > 0  # no cache sharing


def test_merge_rejects_non_adapter(tmp_path: Path, tiny_model: Path) -> None:
    assert (
        cli(["--workspace", str(tmp_path / "ws"), "merge", str(tiny_model), "--out", str(tmp_path / "m")])
        == 2
    )
