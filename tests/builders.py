"""Shared builders for tests that need a small user suite answered by scripted mock models.

A "category suite" has n samples; sample i asks about LABELS[i % 3] and its reference is the JSON
object {"category": LABELS[i % 3]}. A mock script answers sample i right or wrong by a rule
`correct(i)`, so every metric, delta and W/T/L count of a test is known from the rule alone.
Sample inputs carry a tag `[s07]` (or `[NAME s07]` when `tagged`, so one script can answer several
suites) that the script's rules match on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

LABELS = ["billing", "technical", "shipping"]

CATEGORY_SUITE_YAML = """\
name: NAME
version: "1.0.0"
description: DESCRIPTION
dataset:
  path: data/{split}.jsonl
  splits: [SPLITS]
expects_json: true
primary_metric: category
prompt:
  name: plain
  template: "{input}"
generation:
  max_new_tokens: 32
scorers:
  - {name: category, type: json_field_match, args: {field: category}}
  - {name: json_valid, type: json_valid}
"""


def suite_yaml(name: str, primary_metric: str, scorers: str) -> str:
    """A minimal suite.yaml: data/{split}.jsonl with train, dev and test splits, the given primary
    metric and `scorers` (the YAML items of the scorer list, each line indented two spaces)."""
    return (
        f'name: {name}\nversion: "0.1.0"\ndataset:\n  path: data/{{split}}.jsonl\n'
        f"  splits: [train, dev, test]\nprimary_metric: {primary_metric}\nscorers:\n{scorers}"
    )


def sample_tag(suite: str, i: int, tagged: bool) -> str:
    return f"[{suite} s{i:02d}]" if tagged else f"[s{i:02d}]"


def write_category_suite(
    root: Path,
    name: str,
    n: int,
    *,
    splits: Sequence[str] = ("dev", "test"),
    tagged: bool = False,
    description: str = "tests",
) -> Path:
    """Write suite.yaml and one identical data file per split under `root`; returns `root`."""
    (root / "data").mkdir(parents=True)
    yaml_text = (
        CATEGORY_SUITE_YAML.replace("NAME", name)
        .replace("DESCRIPTION", description)
        .replace("SPLITS", ", ".join(splits))
    )
    (root / "suite.yaml").write_text(yaml_text)
    rows = [
        json.dumps(
            {
                "id": f"s{i:02d}",
                "messages": [
                    {
                        "role": "user",
                        "content": f"{sample_tag(name, i, tagged)} a question about {LABELS[i % 3]}",
                    },
                    {"role": "assistant", "content": json.dumps({"category": LABELS[i % 3]})},
                ],
            }
        )
        for i in range(n)
    ]
    for split in splits:
        (root / "data" / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    return root


def write_category_script(
    path: Path,
    correct: Callable[[int], bool],
    n: int,
    *,
    suites: Sequence[str] = ("",),
    tagged: bool = False,
    **extra: Any,
) -> Path:
    """A mock script answering sample i of each suite with the right category when `correct(i)`,
    else the next label; `extra` keys (e.g. `latency`) go into the script as they are."""
    rules = [
        {
            "contains": sample_tag(s, i, tagged),
            "reply": json.dumps({"category": LABELS[(i + (0 if correct(i) else 1)) % 3]}),
        }
        for s in suites
        for i in range(n)
    ]
    path.write_text(yaml.safe_dump({"default": "?", "rules": rules, **extra}))
    return path
