"""A dev split carved from train (`dataset.dev: {from: train, fraction, seed}`): deterministic, in the suite
hash, excluded from train; baseline selection, few-shot pools and `data check --against` see the same carve;
a missing split's error says how to declare one."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

import harness.suite as suite_mod
from harness import Store, load_suite, parse_spec
from harness.baseline import select_baseline
from harness.cli.main import main
from harness.errors import InputError
from harness.suite import carve, draw_fewshot, load_split
from harness.types import CarveSpec, DatasetRef

ROOT = Path(__file__).resolve().parent.parent
CARVE = "  splits: [train, test]\n  dev: {from: train, fraction: 0.2, seed: 0}\n"


def carved_suite(root: Path, make_suite: Any, suite_yaml: str, n: int = 20, carve_yaml: str = CARVE) -> Path:
    """A suite with train and test files only, and a carved dev."""
    text = suite_yaml.replace("  splits: [train, dev, test]\n", carve_yaml)
    folder = make_suite(root, {"train": n, "test": 6}, text)
    assert not (folder / "data" / "dev.jsonl").exists()
    return folder


def ids(samples: Any) -> list[str]:
    return [s.id for s in samples]


def test_carved_dev_is_deterministic_and_excluded_from_train(
    tmp_path: Path, make_suite: Any, suite_yaml: str
) -> None:
    suite = load_suite(carved_suite(tmp_path / "s", make_suite, suite_yaml))
    assert suite.dataset.splits == ("train", "test", "dev")
    dev, train = load_split(suite, "dev"), load_split(suite, "train")
    assert len(dev) == 4 and len(train) == 16  # 20% of 20
    assert not set(ids(dev)) & set(ids(train))
    assert sorted(ids(dev) + ids(train)) == [f"train-{i:03d}" for i in range(20)]
    assert ids(load_split(suite, "dev")) == ids(dev)  # the same carve every time
    assert ids(load_split(suite, "train", limit=3)) == ids(train)[:3]
    # few-shot examples come from train without the carved dev
    prompt = suite.prompt.model_copy(update={"fewshot": suite.prompt.fewshot.model_copy(update={"k": 16})})
    assert not set(ids(draw_fewshot(suite, prompt, "dev"))) & set(ids(dev))


def test_carve_depends_on_ids_and_seed_not_row_order(
    tmp_path: Path, make_suite: Any, suite_yaml: str
) -> None:
    folder = carved_suite(tmp_path / "s", make_suite, suite_yaml)
    suite = load_suite(folder)
    dev = ids(load_split(suite, "dev"))
    lines = (folder / "data" / "train.jsonl").read_text().splitlines()
    random.Random(1).shuffle(lines)
    (folder / "data" / "train.jsonl").write_text("\n".join(lines) + "\n")
    assert sorted(ids(load_split(load_suite(folder), "dev"))) == sorted(dev)

    samples = load_split(load_suite(folder), "train") + load_split(load_suite(folder), "dev")
    seeds = {tuple(sorted(ids(carve(samples, CarveSpec(fraction=0.2, seed=s))[1]))) for s in range(5)}
    assert len(seeds) > 1  # the seed changes which samples are carved
    kept, carved = carve(samples, CarveSpec(fraction=0.01))
    assert len(carved) == 1 and len(kept) == 19  # at least one on each side
    with pytest.raises(InputError, match="at least 2"):
        carve(samples[:1], CarveSpec(fraction=0.5))


def test_carve_is_in_the_suite_hash(tmp_path: Path, make_suite: Any, suite_yaml: str) -> None:
    hashes = set()
    for i, carve_yaml in enumerate(
        [
            CARVE,
            CARVE.replace("fraction: 0.2", "fraction: 0.3"),
            CARVE.replace("seed: 0", "seed: 1"),
        ]
    ):
        hashes.add(
            load_suite(
                carved_suite(tmp_path / f"s{i}", make_suite, suite_yaml, carve_yaml=carve_yaml)
            ).content_hash
        )
    assert len(hashes) == 3
    # a dataset without a carve serializes as before, so existing suites keep their hashes
    assert "dev" not in DatasetRef(path="x").model_dump(mode="json")
    assert "dev" not in load_suite("ticket-triage").model_dump(mode="json")["dataset"]
    assert DatasetRef.model_validate(
        {"path": "x", "splits": ["train", "test"], "dev": {"from": "train", "fraction": 0.2}}
    ).model_dump(mode="json")["dev"] == {"from": "train", "fraction": 0.2, "seed": 0}


@pytest.mark.parametrize(
    ("carve_yaml", "fragment"),
    [
        ("  splits: [test]\n  dev: {from: train, fraction: 0.2}\n", "not among the splits"),
        ("  splits: [train, test]\n  dev: {from: train, fraction: 1.5}\n", "dataset.dev.fraction"),
        ("  splits: [train, test]\n  dev: {from: train, fraction: 0.2, sed: 1}\n", "dataset.dev.sed"),
    ],
)
def test_bad_carve_is_an_input_error_with_its_line(
    tmp_path: Path, make_suite: Any, suite_yaml: str, carve_yaml: str, fragment: str
) -> None:
    folder = carved_suite(tmp_path / "s", make_suite, suite_yaml, carve_yaml=carve_yaml)
    with pytest.raises(InputError) as e:
        load_suite(folder)
    text = e.value.render()
    assert fragment in text and f"{folder / 'suite.yaml'}:" in text


def test_missing_dev_file_says_how_to_carve(
    tmp_path: Path, make_suite: Any, suite_yaml: str, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_suite(tmp_path / "s", {"train": 6, "test": 6})  # splits: [train, dev, test], no dev file
    with pytest.raises(InputError) as e:
        load_split(load_suite(folder), "dev")
    assert "data file for split 'dev' not found" in str(e.value)
    assert "dev: {from: train, fraction: 0.2, seed: 0}" in (e.value.hint or "")
    assert main(["run", str(folder), "--model", "mock:echo", "--split", "dev", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "splits: [train, test]" in err and "dev: {from: train, fraction: 0.2, seed: 0}" in err

    # a suite that does not list dev: the error says how to add it
    other = make_suite(
        tmp_path / "t", {"train": 6, "test": 6}, suite_yaml.replace("[train, dev, test]", "[train, test]")
    )
    with pytest.raises(InputError) as e:
        load_split(load_suite(other), "dev")
    assert "has no split 'dev'" in str(e.value) and "dev: {from: train" in (e.value.hint or "")


def test_baseline_on_a_carved_dev_never_reads_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ticket-triage with its dev file removed and a dev carved from train: selection runs on the carve."""
    dst = tmp_path / "tt"
    shutil.copytree(ROOT / "suites" / "ticket-triage", dst, ignore=shutil.ignore_patterns("data"))
    (dst / "data").mkdir()
    for split, n in (("train", 30), ("test", 8)):
        lines = (ROOT / "suites/ticket-triage/data" / f"{split}.jsonl").read_text().splitlines()[:n]
        (dst / "data" / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    yaml_text = (dst / "suite.yaml").read_text()
    (dst / "suite.yaml").write_text(yaml_text.replace("  splits: [train, dev, test]\n", CARVE))

    reads: list[str] = []
    real_read = suite_mod._read_split

    def spy(suite: Any, split: str) -> Any:
        reads.append(split)
        return real_read(suite, split)

    monkeypatch.setattr(suite_mod, "_read_split", spy)
    suite = load_suite(dst)
    dev_ids = set(ids(load_split(suite, "dev")))
    assert len(dev_ids) == 6
    reads.clear()

    seen: list[list[dict[str, str]]] = []

    class Spy:
        spec = parse_spec("mock:echo")

        def generate(self, prompts: Any, config: Any, progress: Any = None) -> Any:
            from harness.types import Completion

            seen.extend(prompts)
            return [Completion(text="{}") for _ in prompts]

    store = Store(workspace=tmp_path / "ws")
    res = select_baseline(suite, Spy.spec, store=store, backend=Spy(), progress=False)  # type: ignore[arg-type]
    first_test = reads.index("test")
    assert set(reads[:first_test]) == {"train"} and set(reads[first_test:]) == {"test"}
    assert reads.count("test") == 1
    dev_runs = [store.get_run(v.run_id) for v in res.variants]
    assert {r.split for r in dev_runs} == {"dev"} and {r.n_samples for r in dev_runs} == {6}
    assert {s for r in dev_runs for s in store.sample_ids(r.id)} == dev_ids
    # few-shot turns come from train without the carve: no dev input is ever shown as an example
    dev_inputs = {
        json.loads(x)["messages"][0]["content"]
        for x in (dst / "data/train.jsonl").read_text().splitlines()
        if json.loads(x)["id"] in dev_ids
    }
    for p in seen:
        assert not any(m["content"] in dev_inputs for m in p[:-1])

    # and end to end through the CLI
    monkeypatch.undo()
    code = main(
        ["--workspace", str(tmp_path / "ws2"), "baseline", str(dst), "--model", "mock:echo", "--no-progress"]
    )
    assert code == 0
    assert sorted(r.split for r in Store(workspace=tmp_path / "ws2").list_runs()) == ["dev"] * 4 + ["test"]


def test_data_check_against_a_carved_suite(
    tmp_path: Path, make_suite: Any, suite_yaml: str, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No dev file, a declared carve: `data check --against` works, flags the carved rows in the train file,
    and the clean file it writes does not overlap the carve (a re-check is clean)."""
    folder = carved_suite(tmp_path / "s", make_suite, suite_yaml)
    train = folder / "data" / "train.jsonl"
    dev_ids = set(ids(load_split(load_suite(folder), "dev")))
    # these synthetic rows differ only by a number ("ticket train 3: a question about billing"), so the
    # number-masked and short-item contamination rules would rightly call every row a near-copy of the
    # carve; this test is about the carve itself, so it checks with the exact-overlap rules only
    exact = ["--no-mask-numbers", "--contamination-short-words", "0"]
    code = main(
        ["data", "check", str(train), "--against", str(folder), "--no-store", "--format", "json", *exact]
    )
    assert code == 1
    body = json.loads(capsys.readouterr().out)
    flagged = {f["sample_id"] for f in body["findings"] if f["kind"] == "contamination"}
    assert flagged == dev_ids
    assert {f["data"]["split"] for f in body["findings"] if f["kind"] == "contamination"} == {"dev"}

    clean = tmp_path / "clean.jsonl"
    assert (
        main(
            [
                "data",
                "check",
                str(train),
                "--against",
                str(folder),
                "--no-store",
                "--write-clean",
                str(clean),
                *exact,
            ]
        )
        == 0
    )
    capsys.readouterr()
    kept = {json.loads(x)["id"] for x in clean.read_text().splitlines()}
    assert kept == {f"train-{i:03d}" for i in range(20)} - dev_ids
    assert kept == set(
        ids(load_split(load_suite(folder), "train"))
    )  # what training sees is the suite's train
    assert main(["data", "check", str(clean), "--against", str(folder), "--no-store", *exact]) == 0


def test_training_on_the_file_a_dev_split_is_carved_from_is_refused(
    tmp_path: Path, make_suite: Any, suite_yaml: str, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tunebench train` on a carved suite's own train file would train on the dev items: exit 2 before
    any training, with the command that writes the file to train on; nothing is stored or written."""
    folder = carved_suite(tmp_path / "s", make_suite, suite_yaml)
    cfg = tmp_path / "train.yaml"
    out_dir = tmp_path / "out"
    cfg.write_text(
        f"base_model: {tiny_model}\ntrain_file: {folder / 'data' / 'train.jsonl'}\n"
        f"output_dir: {out_dir}\nquantization: none\nmax_steps: 2\nthreads: 1\n"
    )
    ws = tmp_path / "ws"
    code = main(["--workspace", str(ws), "train", str(cfg), "--eval-suite", str(folder), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "carves its dev split out of it" in err and "--write-clean" in err
    assert not out_dir.exists() and not Store(workspace=ws).get_records("training")
    # the same file named only as the suite watched by metric early stopping is refused too
    cfg.write_text(cfg.read_text() + f"eval_suite: {folder}\n")
    assert main(["--workspace", str(ws), "train", str(cfg), "--no-progress"]) == 2
    assert not out_dir.exists()
