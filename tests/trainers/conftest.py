"""Shared fixtures for trainer tests: a tiny random Llama and a small chat data set, built offline."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(1)

TICKETS = [
    ("I was charged twice for the monthly subscription.", "billing", "high"),
    ("Please refund the double charge on my card.", "billing", "high"),
    ("The app crashes when I open the settings page.", "bug", "high"),
    ("Android app crashes every time on start.", "bug", "high"),
    ("Could you add a dark mode to the dashboard?", "feature", "low"),
    ("It would be great to export the dashboard.", "feature", "low"),
    ("I cannot log in after resetting the password.", "account", "medium"),
    ("Please help, my account password does not work.", "account", "medium"),
    ("My package has not arrived yet.", "shipping", "medium"),
    ("The tracking number shows no updates since Monday.", "shipping", "medium"),
    ("Why is my subscription price higher this month?", "billing", "low"),
    ("Add a setting to change the font size.", "feature", "low"),
]


def chat_rows(n: int, offset: int = 0) -> list[dict]:
    rows = []
    for i in range(n):
        text, category, priority = TICKETS[(i + offset) % len(TICKETS)]
        answer = json.dumps({"category": category, "priority": priority})
        rows.append(
            {
                "id": f"t{i + offset}",
                "messages": [
                    {"role": "user", "content": f"Ticket: {text}"},
                    {"role": "assistant", "content": answer},
                ],
                "meta": {"source": "test"},
            }
        )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harness.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_model_64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Hidden size 64: bitsandbytes' NF4 block size, so 4-bit layers behave as on a real model."""
    from harness.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny64") / "model", hidden_size=64)


@pytest.fixture(scope="session")
def chat_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("data")
    train = write_jsonl(folder / "train.jsonl", chat_rows(24))
    evalf = write_jsonl(folder / "eval.jsonl", chat_rows(8, offset=5))
    return train, evalf
