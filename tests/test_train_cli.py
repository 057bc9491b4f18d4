"""`tunebench train` end to end on a tiny model: trains, stores the training run, evaluates the
candidate on a suite, and the LoRA weights really changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from harness import Store
from harness.cli.main import main as cli


def test_train_cli_end_to_end(tmp_path: Path, tiny_model: Path, tiny_suite: Path, capsys: Any) -> None:
    ws = tmp_path / "ws"
    cfg = tmp_path / "train.yaml"
    cfg.write_text(
        f"base_model: {tiny_model}\n"
        f"train_file: {tiny_suite / 'data' / 'train.jsonl'}\n"
        f"output_dir: {tmp_path / 'out'}\n"
        "quantization: none\nlora_r: 4\nlora_alpha: 8\nlearning_rate: 0.01\nmax_steps: 20\n"
        "per_device_batch_size: 4\nlogging_steps: 1\nthreads: 1\n"
    )
    code = cli(["--workspace", str(ws), "train", str(cfg), "--eval-suite", str(tiny_suite), "--no-progress"])
    assert code == 0
    store = Store(workspace=ws)
    [rec] = store.get_records("training")
    body = rec["body"]
    assert body["final_loss"] < body["first_loss"]
    assert body["steps"] == 20 and body["trainable_params"] > 0
    # max_steps overrides num_epochs (here: 20 steps are several passes over the tiny train file): the
    # record and the table show the epochs actually trained, not the configured one
    assert body["epochs"] > body["config"]["num_epochs"] == 1.0
    assert body["quantization"] == "none" and body["base_precision"]
    adapter = Path(body["adapter_path"])
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    lora_b = [t for k, t in weights.items() if "lora_B" in k]
    assert lora_b and all(torch.count_nonzero(t) > 0 for t in lora_b)  # lora_B starts at zero
    meta = json.loads((adapter / "tunebench_adapter.json").read_text())
    assert meta["quantization"] == "none"
    # the candidate was evaluated right after training, on the same base precision
    [run] = store.list_runs()
    assert body["eval_runs"] == {"tiny-suite": run.id}
    assert run.model.adapter == str(adapter.resolve()) and run.status == "completed"
    assert run.tags["training_run"] == body["id"]
    # did it learn to stop? stored in the training record and printed (20 steps on a tiny random model: no)
    assert set(body["eot_prob"]) == {"train"} and body["eot_token"] == "<|end|>"
    out = capsys.readouterr().out
    [row] = [line for line in out.splitlines() if line.startswith(body["id"])]
    assert row.split()[3] == str(body["epochs"])
    assert "p(<|end|>) right after the reference answer:" in out
    assert "note: WARNING: the adapter rarely ends its answers" in out


def test_train_cli_sweep_and_bad_config(tmp_path: Path, tiny_model: Path, tiny_suite: Path) -> None:
    ws = tmp_path / "ws"
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(
        f"base_model: {tiny_model}\ntrain_file: {tiny_suite / 'data' / 'train.jsonl'}\n"
        f"output_dir: {tmp_path / 'sweep'}\nquantization: none\nmax_steps: 3\nthreads: 1\n"
        "sweep:\n  lora_r: [2, 4]\n"
    )
    assert cli(["--workspace", str(ws), "train", str(cfg), "--no-progress"]) == 0
    recs = Store(workspace=ws).get_records("training")
    assert sorted(r["body"]["config"]["lora_r"] for r in recs) == [2, 4]
    assert len({r["body"]["adapter_hash"] for r in recs}) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"base_model: {tiny_model}\ntrain_file: x.jsonl\noutput_dir: o\nlearning_rte: 1\n")
    assert cli(["--workspace", str(ws), "train", str(bad)]) == 2
    assert cli(["--workspace", str(ws), "train", str(cfg), "--set", "nonsense"]) == 2
