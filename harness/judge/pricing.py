"""Judge token prices: model -> USD per 1M input and output tokens.

    # prices.yaml
    gpt-4o-mini: {input: 0.15, output: 0.60}
    "openai:my-judge@http://127.0.0.1:8000/v1": {input: 0, output: 0}

A model is looked up by its full spec string first, then by its model name. The default table is
empty: cost is then reported as unknown (None), never as zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError


@dataclass(frozen=True)
class Price:
    input_per_m: float
    output_per_m: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_m + completion_tokens * self.output_per_m) / 1_000_000


@dataclass(frozen=True)
class PriceTable:
    prices: Mapping[str, Price] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, source: str = "price table") -> PriceTable:
        out: dict[str, Price] = {}
        for model, entry in (data or {}).items():
            if not isinstance(entry, Mapping):
                raise InputError(f"{source}: {model!r}: expected a mapping with keys input and output")
            unknown = set(entry) - {"input", "output"}
            if unknown:
                raise InputError(
                    f"{source}: {model!r}: unknown key(s) {', '.join(sorted(map(str, unknown)))}",
                    hint="each model has `input` and `output`: USD per 1M tokens",
                )
            values = []
            for key in ("input", "output"):
                v = entry.get(key)
                if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                    raise InputError(f"{source}: {model!r}: {key} must be a non-negative number, got {v!r}")
                values.append(float(v))
            out[str(model)] = Price(values[0], values[1])
        return cls(out)

    @classmethod
    def load(cls, path: str | Path) -> PriceTable:
        import yaml

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            raise InputError(f"price table {p}: {e}") from e
        if data is not None and not isinstance(data, Mapping):
            raise InputError(f"price table {p}: expected a mapping of model -> {{input, output}}")
        return cls.from_dict(data, source=f"price table {p}")

    def lookup(self, *names: str | None) -> Price | None:
        for name in names:
            if name and name in self.prices:
                return self.prices[name]
        return None

    def cost(self, names: tuple[str | None, ...], prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.lookup(*names)
        return None if price is None else price.cost(prompt_tokens, completion_tokens)


def as_price_table(prices: PriceTable | Mapping[str, Any] | str | Path | None) -> PriceTable:
    if prices is None:
        return PriceTable()
    if isinstance(prices, PriceTable):
        return prices
    if isinstance(prices, str | Path):
        return PriceTable.load(prices)
    return PriceTable.from_dict(prices)
