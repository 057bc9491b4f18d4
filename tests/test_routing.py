"""Per-row adapter routing (harness/models/routing.py): the same logits as PEFT's own
`adapter_names` routing, unknown names and training mode refused as PEFT refuses them, the hooks
gone after the context, and the module list found again when an adapter is added."""

from __future__ import annotations

from pathlib import Path

import pytest
from lora_builders import make_adapters

from harness import parse_spec
from harness.models.multi import BASE, MultiAdapterHF
from harness.models.routing import route_adapters, routed_modules


@pytest.fixture(scope="module")
def multi(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> MultiAdapterHF:
    adapters = make_adapters(tiny_model, tmp_path_factory.mktemp("adapters"))
    ws = tmp_path_factory.mktemp("ws")
    return MultiAdapterHF(parse_spec(f"hf:{tiny_model}", workspace=ws), adapters, device="cpu", workspace=ws)


def test_routing_equals_peft_adapter_names(multi: MultiAdapterHF) -> None:
    import torch

    model = multi.hf.model
    names = [*multi.specs, BASE, *reversed(list(multi.specs))]
    enc = multi.hf.tokenizer(["I was charged twice"] * len(names), return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        want = model(**enc, adapter_names=names).logits
        with route_adapters(model, names):
            got = model(**enc).logits
        after = model(**enc).logits  # hooks removed: the active adapter for every row
    assert torch.equal(got, want)
    assert len({tuple(got[i, -1].tolist()) for i in range(len(names))}) == len(set(names))
    assert not torch.equal(after, want)


def test_unknown_adapter_and_training_mode_are_refused(multi: MultiAdapterHF) -> None:
    model = multi.hf.model
    with pytest.raises(ValueError, match="non-existing adapter"), route_adapters(model, ["nope"]):
        pass
    model.train()
    try:
        with pytest.raises(ValueError, match="training mode"), route_adapters(model, [BASE]):
            pass
    finally:
        model.eval()


def test_modules_are_found_again_when_an_adapter_is_added(multi: MultiAdapterHF, tiny_model: Path) -> None:
    model = multi.hf.model
    modules, names = routed_modules(model)
    assert modules and names == set(multi.specs)
    assert routed_modules(model)[0] is modules  # cached
    first = next(iter(multi.specs))
    model.load_adapter(str(multi.specs[first].adapter), adapter_name="extra")
    try:
        assert "extra" in routed_modules(model)[1]
    finally:
        model.delete_adapter("extra")
    assert "extra" not in routed_modules(model)[1]
