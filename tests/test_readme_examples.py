"""The example files in the README's "Your own task" section are real: the `--variants` file loads
and expands to the variants the text names, and the mock script answers as described."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from harness.baseline import load_variants
from harness.models.mock import MockBackend
from harness.types import GenerationConfig, ModelSpec

README = Path(__file__).resolve().parents[1] / "README.md"


def _yaml_block(first_line: str) -> str:
    text = README.read_text(encoding="utf-8")
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        if block.startswith(first_line):
            return str(block)
    raise AssertionError(f"no yaml block starting with {first_line!r} in README.md")


def test_variants_example_loads_and_expands_as_described(tmp_path: Path) -> None:
    path = tmp_path / "variants.yaml"
    path.write_text(_yaml_block("# variants.yaml"), encoding="utf-8")
    vf = load_variants(path)
    names = [v.name for v in vf.expand()]
    assert names == [
        "plain",
        "sections-2shot",
        "terse-0shot",
        "terse-1shot",
        "terse-3shot",
        "strict-0shot",
        "strict-1shot",
        "strict-3shot",
    ]
    text = " ".join(README.read_text(encoding="utf-8").split())  # the sentence wraps
    assert "gives eight variants: " + ", ".join(f"`{n}`" for n in names[:-1]) + f" and `{names[-1]}`" in text
    assert vf.metric == "sections"
    two = vf.expand()[1]
    assert two.fewshot.k == 2 and two.template == "Dictation:\n{input}"


def test_mock_script_example_answers_as_described(tmp_path: Path) -> None:
    script = yaml.safe_load(_yaml_block("# script.yaml"))
    assert set(script) == {"default", "rules", "replies", "delay_s", "log"}
    script["log"] = str(tmp_path / "calls.log")
    backend = MockBackend(ModelSpec(backend="mock", base="script"), script)

    def ask(text: str) -> str:
        cfg = GenerationConfig(max_new_tokens=64)
        return backend.generate([[{"role": "user", "content": text}]], cfg)[0].text

    assert [ask("chest pain") for _ in range(2)] == ["first reply", "second reply"]  # replies first
    assert ask("a 64-year-old with chest pain") == "## Chief Complaint\nChest pain"
    assert ask("dry cough for a week") == "## Chief Complaint\nCough"
    assert ask("a sprained ankle") == "## Chief Complaint\nunknown"
    assert len((tmp_path / "calls.log").read_text().splitlines()) == 5
    del script["default"]
    echo = MockBackend(ModelSpec(backend="mock", base="script"), {"rules": script["rules"]})
    cfg = GenerationConfig(max_new_tokens=64)
    assert echo.generate([[{"role": "user", "content": "hello"}]], cfg)[0].text == "hello"
