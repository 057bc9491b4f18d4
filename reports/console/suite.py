"""`tunebench show RUN --suite`: the suite a run was made with, as stored in its snapshot, in YAML.

The first document is the suite as loaded (the suite.yaml text when it was stored, else the
resolved fields), a valid suite.yaml; the second is what the run resolved from it: data hashes, the
prompt, the few-shot examples drawn and the chat each sample was placed in."""

from __future__ import annotations

from typing import Any

import yaml


def _dump(obj: Any) -> str:
    return str(yaml.safe_dump(obj, sort_keys=False, allow_unicode=True, width=100))


def render_suite_snapshot(body: dict[str, Any], run_id: str = "") -> str:
    head = f"# suite {body.get('suite_ref', '?')}" + (f" as run {run_id} used it" if run_id else "")
    source = body.get("source_yaml")
    if source:
        suite_doc = str(source).rstrip("\n") + "\n"
        origin = f"# (the suite.yaml text, from {body.get('suite_path')})"
    else:
        suite_doc = _dump(body.get("suite", {}))
        origin = "# (the suite as resolved; its YAML text was not stored)"
    resolved = {
        "suite_hash": body.get("suite_hash"),
        "verified": body.get("verified"),
        "data_sha256": body.get("data_sha256", {}),
        "split": body.get("split"),
        "prompt": body.get("prompt"),
        "fewshot_ids": body.get("fewshot_ids", []),
        "prompt_messages": body.get("prompt_messages", []),
    }
    return (
        f"{head}\n{origin}\n{suite_doc}---\n"
        "# resolved for the run: data hashes, prompt, few-shot examples, and the chat each sample\n"
        "# was placed in ({input} stands for the sample's text)\n" + _dump(resolved)
    )
