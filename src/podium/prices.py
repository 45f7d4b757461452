"""What model calls cost: a versioned price table that users can override.

Prices are in US dollars per million tokens. A table maps model-string prefixes
(``openai:gpt-4.1``) to a :class:`ModelPrice`; a model is priced by the **longest** key it
starts with, so ``openai:gpt-4.1-mini-2025-04-14`` takes the ``openai:gpt-4.1-mini`` price and
not the ``openai:gpt-4.1`` one. A model no key matches has no price: :meth:`PriceTable.cost`
returns ``None`` and the caller decides (a budget with a money limit uses its fallback price,
never 0).

:data:`DEFAULT_PRICES` holds the providers' published list prices as known when its ``version``
was written; they change, so override them (:meth:`PriceTable.with_overrides`) or load a table of
your own (:meth:`PriceTable.from_file`)::

    {"version": "acme-2026-11",
     "prices": {"openai:gpt-4.1": {"input_per_mtok": 2.0, "output_per_mtok": 8.0,
                                   "cached_input_per_mtok": 0.5}}}

The same shape is accepted as TOML (``[prices."openai:gpt-4.1"]``). Cache writes (Anthropic
bills them above the input price) are not modelled: they are billed at the input price.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from podium.errors import SpecError
from podium.messages import Usage

__all__ = ["DEFAULT_PRICES", "ModelPrice", "PriceTable"]

_PER = 1_000_000
_Rate = Annotated[float, Field(ge=0, strict=True, allow_inf_nan=False)]


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens. Without ``cached_input_per_mtok`` cached input costs full price."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    input_per_mtok: _Rate
    output_per_mtok: _Rate
    cached_input_per_mtok: _Rate | None = None

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is None and spec.name == "cached_input_per_mtok":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SpecError(f"ModelPrice.{spec.name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise SpecError(f"ModelPrice.{spec.name} must be finite and >= 0, got {value!r}")

    def cost(self, usage: Usage) -> float:
        """The price of ``usage``; cached tokens are part of ``input_tokens``."""
        cached = min(max(usage.cached_tokens, 0), usage.input_tokens)
        cached_rate = self.input_per_mtok
        if self.cached_input_per_mtok is not None:
            cached_rate = self.cached_input_per_mtok
        return (
            (usage.input_tokens - cached) * self.input_per_mtok
            + cached * cached_rate
            + usage.output_tokens * self.output_per_mtok
        ) / _PER


class _PriceFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[str, Field(min_length=1, strict=True)]
    prices: dict[Annotated[str, Field(min_length=1)], ModelPrice]


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices by model-string prefix, matched longest first, and the table's ``version``."""

    prices: Mapping[str, ModelPrice]
    version: str
    _found: dict[str, ModelPrice | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )  # price_of by model string: it runs for every model call

    def __post_init__(self) -> None:
        prices = dict(self.prices)
        for key, price in prices.items():
            if not isinstance(key, str) or not key:
                raise SpecError(f"price table keys must be non-empty model strings, got {key!r}")
            if not isinstance(price, ModelPrice):
                raise SpecError(f"price of {key!r} must be a ModelPrice, got {price!r}")
        object.__setattr__(self, "prices", MappingProxyType(prices))

    def price_of(self, model: str) -> ModelPrice | None:
        """The price of the longest key ``model`` starts with, or ``None``."""
        try:
            return self._found[model]
        except KeyError:
            pass
        matches = [key for key in self.prices if model.startswith(key)]
        price = self.prices[max(matches, key=len)] if matches else None
        if len(self._found) < 4096:
            self._found[model] = price
        return price

    def cost(self, model: str, usage: Usage) -> float | None:
        """What ``usage`` of ``model`` costs in USD, or ``None`` if the model has no price."""
        price = self.price_of(model)
        return None if price is None else price.cost(usage)

    def with_overrides(
        self, prices: Mapping[str, ModelPrice | Mapping[str, Any]], *, version: str | None = None
    ) -> PriceTable:
        """A new table with ``prices`` added or replaced (dicts are validated like a file)."""
        parsed = _parse({"version": "overrides", "prices": dict(prices)}, "overrides")
        merged = {**self.prices, **parsed.prices}
        return PriceTable(merged, version or f"{self.version}+overrides")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "price table") -> PriceTable:
        """Validate ``{"version": ..., "prices": {model: {field: number}}}``."""
        return _parse(data, source)

    @classmethod
    def from_file(cls, path: str | Path) -> PriceTable:
        """Load a ``.json`` or ``.toml`` file shaped like :meth:`from_dict` expects."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".json", ".toml"):
            raise SpecError(f"price table {path}: expected a .json or .toml file")
        try:
            text = path.read_text(encoding="utf-8")
            data = json.loads(text) if suffix == ".json" else tomllib.loads(text)
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise SpecError(f"price table {path}: cannot read it: {error}") from error
        if not isinstance(data, dict):
            raise SpecError(f"price table {path}: expected an object at the top level")
        return _parse(data, str(path))


def _parse(data: Mapping[str, Any], source: str) -> PriceTable:
    try:
        parsed = _PriceFile.model_validate(dict(data))
    except ValidationError as error:
        problems = "\n  ".join(_describe(issue) for issue in error.errors())
        raise SpecError(f"{source} is invalid:\n  {problems}") from None
    return PriceTable(parsed.prices, parsed.version)


def _describe(issue: Mapping[str, Any]) -> str:
    loc = tuple(str(part) for part in issue["loc"])
    if loc[:1] == ("prices",) and len(loc) >= 2:
        where = f"model {loc[1]!r}"
        if len(loc) >= 3:
            where += f", field {'.'.join(loc[2:])!r}"
    else:
        where = f"field {'.'.join(loc) or '(top level)'!r}"
    return f"{where}: {issue['msg']} (got {issue.get('input')!r})"


def _p(input_per_mtok: float, output_per_mtok: float, cached: float | None = None) -> ModelPrice:
    return ModelPrice(input_per_mtok, output_per_mtok, cached)


DEFAULT_PRICES = PriceTable(
    {
        # OpenAI, standard tier.
        "openai:gpt-5": _p(1.25, 10.0, 0.125),
        "openai:gpt-5-mini": _p(0.25, 2.0, 0.025),
        "openai:gpt-5-nano": _p(0.05, 0.40, 0.005),
        "openai:gpt-4.1": _p(2.0, 8.0, 0.50),
        "openai:gpt-4.1-mini": _p(0.40, 1.60, 0.10),
        "openai:gpt-4.1-nano": _p(0.10, 0.40, 0.025),
        "openai:gpt-4o": _p(2.50, 10.0, 1.25),
        "openai:gpt-4o-mini": _p(0.15, 0.60, 0.075),
        "openai:o3": _p(2.0, 8.0, 0.50),
        "openai:o4-mini": _p(1.10, 4.40, 0.275),
        # Anthropic; cached = cache reads.
        "anthropic:claude-opus-4": _p(15.0, 75.0, 1.50),
        "anthropic:claude-opus-4-5": _p(5.0, 25.0, 0.50),
        "anthropic:claude-sonnet-4": _p(3.0, 15.0, 0.30),
        "anthropic:claude-3-7-sonnet": _p(3.0, 15.0, 0.30),
        "anthropic:claude-haiku-4": _p(1.0, 5.0, 0.10),
        "anthropic:claude-3-5-haiku": _p(0.80, 4.0, 0.08),
        "anthropic:claude-3-haiku": _p(0.25, 1.25, 0.03),
        # Podium's offline doubles (podium.testing) cost nothing.
        "scripted:": _p(0.0, 0.0, 0.0),
        "function:": _p(0.0, 0.0, 0.0),
    },
    version="2026-11",
)
"""Published list prices for common models; override them for your contract or region."""
