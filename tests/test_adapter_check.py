"""Adapter sanity before any sample runs (harness/models/adapter_check.py): a no-op LoRA adapter
(freshly initialised, target modules missing from the base, weights that change nothing) is refused
with exit 2 and a reason; a trained (here: random nonzero) adapter passes; an adapter loaded on
another base than it records gets a warning in the run and in comparisons that use it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.compare import compare_runs
from harness.errors import InputError
from harness.models import parse_spec
from harness.models.adapter_check import base_identity_warnings
from harness.models.hf import HFBackend
from harness.models.multi import MultiAdapterHF
from harness.runner import run_suite
from harness.store import Store
from harness.suite import load_suite
from harness.types import GenerationConfig


def save_adapter(base: Path, out: Path, *, nonzero: bool, zero_a: bool = False) -> Path:
    """A PEFT LoRA adapter for `base` saved with get_peft_model(...).save_pretrained: fresh (lora_B
    zero, as PEFT initialises it) or with lora_B random (what training would leave)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0),
    )
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if nonzero and "lora_B" in name:
                p.normal_(0.0, 0.5)
            if zero_a and "lora_A" in name:
                p.zero_()
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def adapters(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return {
        "fresh": save_adapter(tiny_model, root / "fresh", nonzero=False),
        "trained": save_adapter(tiny_model, root / "trained", nonzero=True),
        "dead": save_adapter(tiny_model, root / "dead", nonzero=True, zero_a=True),
    }


def _cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("tunebench") or str(Path(sys.executable).parent / "tunebench")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TUNEBENCH_THREADS": "1"}
    return subprocess.run(
        [exe, "--workspace", str(ws), *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_cli_refuses_a_fresh_adapter_before_generating(
    tiny_model: Path, tiny_suite: Path, adapters: dict[str, Path], tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    fresh = _cli(
        ws, "run", str(tiny_suite), "--model", f"hf:{tiny_model}+lora:{adapters['fresh']}", "--limit", "2",
        "--dtype", "float32", "--no-progress",
    )  # fmt: skip
    assert fresh.returncode == 2, fresh.stderr
    assert "no-op" in fresh.stderr and "every lora_B weight is zero" in fresh.stderr
    assert "hint:" in fresh.stderr
    counts = Store(workspace=ws).counts()
    assert counts["runs"] == 0 and counts["generations"] == 0  # refused before anything was written

    trained = _cli(
        ws, "run", str(tiny_suite), "--model", f"hf:{tiny_model}+lora:{adapters['trained']}", "--limit", "2",
        "--dtype", "float32", "--no-progress",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "generated 2" in trained.stdout


def test_adapter_whose_weights_change_nothing_is_refused_by_the_logit_check(
    tiny_model: Path, adapters: dict[str, Path], tmp_path: Path
) -> None:
    # lora_B is nonzero but lora_A is zero: no direct symptom, yet B @ A = 0
    spec = parse_spec(f"hf:{tiny_model}+lora:{adapters['dead']}", workspace=tmp_path, dtype="float32")
    with pytest.raises(InputError) as ei:
        HFBackend(spec, batch_size=2, device="cpu")
    text = ei.value.render()
    assert "changes no next-token logit" in text
    assert "lora_B" in text and "target modules" in text and "trained on this base" in text


def test_target_modules_missing_from_the_base_are_refused(
    tiny_model: Path, adapters: dict[str, Path], tmp_path: Path
) -> None:
    bad = Path(shutil.copytree(adapters["trained"], tmp_path / "bad"))
    cfg = json.loads((bad / "adapter_config.json").read_text())
    cfg["target_modules"] = ["query_key_value", "dense_4h_to_h"]  # another architecture's names
    (bad / "adapter_config.json").write_text(json.dumps(cfg))
    spec = parse_spec(f"hf:{tiny_model}+lora:{bad}", workspace=tmp_path, dtype="float32")
    with pytest.raises(InputError, match="match no module of the base") as ei:
        HFBackend(spec, batch_size=2, device="cpu")
    assert "q_proj" in ei.value.render()  # names what the base has


def test_multi_adapter_refuses_a_fresh_adapter(
    tiny_model: Path, adapters: dict[str, Path], tmp_path: Path
) -> None:
    multi = MultiAdapterHF(
        parse_spec(f"hf:{tiny_model}", workspace=tmp_path, dtype="float32"),
        {"ok": adapters["trained"], "fresh": adapters["fresh"]},
        workspace=tmp_path,
    )
    with pytest.raises(InputError, match="every lora_B weight is zero"):
        multi.backend("ok").generate(
            [[{"role": "user", "content": "hi"}]], GenerationConfig(max_new_tokens=2)
        )


def test_multi_adapter_checks_every_adapter_in_one_pass_and_refuses_a_dead_one(
    tiny_model: Path, adapters: dict[str, Path], tmp_path: Path
) -> None:
    """The canary check of several adapters on one base runs one forward pass for all of them
    (each canary routed to each adapter and to the base); its changes equal the ones measured
    prompt by prompt with the adapter switched on and off, and a dead adapter (B @ A = 0) among
    good ones changes exactly nothing and is refused by name."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from harness.models.adapter_check import CANARY_PROMPTS, max_logit_changes
    from harness.models.hf import shared_tokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, adapters["trained"], adapter_name="trained")
    model.load_adapter(adapters["dead"], adapter_name="dead")
    model.eval()
    tok = shared_tokenizer(str(tiny_model))
    calls: list[int] = []
    hook = model.get_base_model().register_forward_hook(lambda *a: calls.append(1))
    try:
        got = max_logit_changes(model, tok, ["trained", "dead"])
    finally:
        hook.remove()
    assert calls == [1]
    assert got["dead"][0] == 0.0 and got["trained"][0] > 0.01
    want = 0.0
    with torch.inference_mode():
        model.set_adapter("trained")
        for text in CANARY_PROMPTS:
            ids = tok(text, return_tensors="pt")["input_ids"]
            adapted = model(input_ids=ids).logits
            with model.disable_adapter():
                plain = model(input_ids=ids).logits
            want = max(want, float((adapted - plain).abs().max()))
    assert got["trained"][0] == pytest.approx(want, rel=1e-4)

    multi = MultiAdapterHF(
        parse_spec(f"hf:{tiny_model}", workspace=tmp_path, dtype="float32"),
        {"ok": adapters["trained"], "dead": adapters["dead"]},
        workspace=tmp_path,
    )
    with pytest.raises(InputError, match="changes no next-token logit") as ei:
        multi.backend("ok").generate([[{"role": "user", "content": "hi"}]], GenerationConfig(max_new_tokens=2))
    assert str(adapters["dead"]) in ei.value.render()


# -- recorded base identity ----------------------------------------------------------------------


def test_adapter_on_another_base_warns_in_the_run_and_the_comparison(
    tiny_model: Path, tiny_suite: Path, adapters: dict[str, Path], tmp_path: Path, workspace: Path
) -> None:
    from harness.models.tiny import build_tiny_model

    other = build_tiny_model(tmp_path / "other-base", seed=1)  # same architecture, other weights
    spec = parse_spec(f"hf:{other}+lora:{adapters['trained']}", dtype="float32")
    (warning,) = base_identity_warnings(spec)
    assert f"was trained on base {tiny_model}" in warning and f"loaded on {other}" in warning
    assert base_identity_warnings(parse_spec(f"hf:{tiny_model}+lora:{adapters['trained']}")) == []

    store = Store()
    suite = load_suite(tiny_suite)
    base_run = run_suite(
        suite, parse_spec(f"hf:{other}", dtype="float32"), store=store, limit=3, progress=False
    )
    tuned = run_suite(suite, spec, store=store, limit=3, progress=False)
    assert tuned.warnings == [warning] and base_run.warnings == []
    assert store.get_run(tuned.id).warnings == [warning]
    cmp = compare_runs(store, base_run.id, tuned.id, n_boot=50)
    assert f"run B: {warning}" in cmp.warnings
    # a run stored before runs kept warnings: the comparison checks the adapter folder again
    store.update_run(store.get_run(tuned.id).model_copy(update={"warnings": []}))
    assert compare_runs(store, base_run.id, tuned.id, n_boot=50).warnings.count(f"run B: {warning}") == 1


def test_recorded_base_hash_is_compared(tiny_model: Path, adapters: dict[str, Path], tmp_path: Path) -> None:
    adapter = Path(shutil.copytree(adapters["trained"], tmp_path / "a"))
    spec = parse_spec(f"hf:{tiny_model}+lora:{adapter}", workspace=tmp_path)
    meta = adapter / "tunebench_adapter.json"
    meta.write_text(json.dumps({"base_model": "/gone/elsewhere", "base_hash": spec.base_hash}))
    assert base_identity_warnings(spec) == []  # same weights, wherever the folder was
    meta.write_text(json.dumps({"base_model": str(tiny_model), "base_hash": "0" * 64}))
    (warning,) = base_identity_warnings(spec)
    assert "weights sha256 000000000000 at training" in warning
    meta.write_text(json.dumps({"base_model": "/gone/elsewhere"}))
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = "/gone/elsewhere"
    (adapter / "adapter_config.json").write_text(json.dumps(cfg))
    assert base_identity_warnings(spec) == []  # nothing to compare with: no false alarm


def test_trainer_records_the_base_identity(tiny_model: Path, tmp_path: Path) -> None:
    from harness.models.adapter_check import base_identity

    ident = base_identity(str(tiny_model))
    assert ident == {"base_hash": parse_spec(f"hf:{tiny_model}", workspace=tmp_path).base_hash}

    class Cfg:
        _commit_hash = "c" * 40

    class Model:
        config = Cfg()

    assert base_identity("acme/tiny", Model()) == {"base_revision": "c" * 40}
