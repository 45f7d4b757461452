"""What model calls cost: the maintained ``genai-prices`` dataset, with overrides of your own.

Prices are in US dollars per million tokens. :data:`DEFAULT_PRICES` prices a model string
(``openai:gpt-4.1-mini``) from the `genai-prices <https://github.com/pydantic/genai-prices>`_
dataset: the ``provider`` before the colon is its provider id, the rest its model reference, and
the dataset's own rules apply (dated names, cached-input prices, tiered prices that charge every
token at the tier a request's input reaches, prices that changed on a date). The dataset ships
inside the package and is read offline, never fetched: ``import podium`` does not load it, the
first price lookup does. A model the dataset does not know has no price: :meth:`PriceTable.cost`
returns ``None`` and the caller decides (a budget with a money limit uses its fallback price,
never 0). Upgrade ``genai-prices`` to get newer prices.

A table's own entries map model-string prefixes to a :class:`ModelPrice` and take precedence
over the dataset: a model is priced by the **longest** key it starts with, so
``openai:gpt-4.1-mini-2025-04-14`` takes an ``openai:gpt-4.1-mini`` entry and not an
``openai:gpt-4.1`` one. Override a price for your contract, region or deployment with
:meth:`PriceTable.with_overrides` (the dataset stays behind it), or load a whole table of your
own (:meth:`PriceTable.from_file`, no dataset behind it)::

    {"version": "acme-2026-11",
     "prices": {"openai:gpt-4.1": {"input_per_mtok": 2.0, "output_per_mtok": 8.0,
                                   "cached_input_per_mtok": 0.5}}}

The same shape is accepted as TOML (``[prices."openai:gpt-4.1"]``). Cache writes (Anthropic
bills them above the input price) are not reported in :class:`~podium.messages.Usage`, so they
are billed at the input price.
"""

from __future__ import annotations

import importlib
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from podium.errors import SpecError
from podium.messages import Usage

__all__ = ["DEFAULT_PRICES", "GenaiPrices", "ModelPrice", "PriceTable"]

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


class GenaiPrices:
    """Prices from the ``genai-prices`` dataset bundled with that package (read offline).

    ``price_of`` is a model's flat price (the base tier of tiered prices); ``cost`` applies the
    dataset's full rules to a usage (tiers, cached input, prices by date, at the current time).
    A provider or model the dataset does not know has no price (``None``), and so does every
    model when the package is not installed.
    """

    __slots__ = ()

    @property
    def version(self) -> str:
        try:
            return f"genai-prices {package_version('genai-prices')}"
        except PackageNotFoundError:
            return "genai-prices (not installed)"

    def price_of(self, model: str) -> ModelPrice | None:
        found = _lookup(model)
        if found is None:
            return None
        rates = found.model.get_prices(datetime.now(tz=UTC))
        given, taken = _rate(rates.input_mtok), _rate(rates.output_mtok)
        if given is None or taken is None:  # a price shape without per-token input and output
            return None
        return ModelPrice(given, taken, _rate(rates.cache_read_mtok))

    def cost(self, model: str, usage: Usage) -> float | None:
        found = _lookup(model)
        if found is None:
            return None
        module, provider, info = found.module, found.provider, found.model
        cached = min(max(usage.cached_tokens, 0), usage.input_tokens)
        counts = module.Usage(
            input_tokens=usage.input_tokens,
            cache_read_tokens=cached,
            output_tokens=usage.output_tokens,
        )
        try:
            return float(info.calc_price(counts, provider).total_price)
        except (LookupError, ValueError, ArithmeticError, TypeError):  # a price it cannot apply
            return None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GenaiPrices)

    def __hash__(self) -> int:
        return hash(GenaiPrices)

    def __repr__(self) -> str:
        return "GenaiPrices()"


@dataclass(frozen=True, slots=True)
class _Found:
    module: Any
    provider: Any
    model: Any


@cache
def _dataset() -> Any:
    """The ``genai_prices`` module, imported on first use: its dataset is large, and
    ``import podium`` stays light. ``None`` when the package is not installed."""
    try:
        return importlib.import_module("genai_prices")
    except ImportError:
        return None


def _lookup(model: str) -> _Found | None:
    provider_id, sep, name = model.partition(":")
    module = _dataset()
    if module is None or not sep or not name or not provider_id:
        return None
    snapshot = module.data_snapshot.get_snapshot()
    try:
        provider, info = snapshot.find_provider_model(name, None, provider_id, None)
    except LookupError:
        return None
    return _Found(module, provider, info)


def _rate(value: object) -> float | None:
    """A dataset rate as USD per million tokens (a tiered rate: its base tier)."""
    if value is None:
        return None
    base = getattr(value, "base", value)
    return float(base) if isinstance(base, Decimal | int | float) else None


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices by model-string prefix (matched longest first), then ``dataset`` for the models
    no key matches, and the table's ``version``."""

    prices: Mapping[str, ModelPrice]
    version: str
    dataset: GenaiPrices | None = None
    _found: dict[str, ModelPrice | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )  # own entries by model string: price_of runs for every model call

    def __post_init__(self) -> None:
        prices = dict(self.prices)
        for key, price in prices.items():
            if not isinstance(key, str) or not key:
                raise SpecError(f"price table keys must be non-empty model strings, got {key!r}")
            if not isinstance(price, ModelPrice):
                raise SpecError(f"price of {key!r} must be a ModelPrice, got {price!r}")
        object.__setattr__(self, "prices", MappingProxyType(prices))

    def price_of(self, model: str) -> ModelPrice | None:
        """The price of the longest key ``model`` starts with, else the dataset's flat price of
        ``model`` (its base tier), else ``None``."""
        own = self._own(model)
        if own is not None or self.dataset is None:
            return own
        return self.dataset.price_of(model)

    def cost(self, model: str, usage: Usage) -> float | None:
        """What ``usage`` of ``model`` costs in USD, or ``None`` if the model has no price.

        An own entry prices it flat; the dataset applies its full rules (tiers included)."""
        own = self._own(model)
        if own is not None:
            return own.cost(usage)
        return None if self.dataset is None else self.dataset.cost(model, usage)

    def _own(self, model: str) -> ModelPrice | None:
        try:
            return self._found[model]
        except KeyError:
            pass
        matches = [key for key in self.prices if model.startswith(key)]
        price = self.prices[max(matches, key=len)] if matches else None
        if len(self._found) < 4096:
            self._found[model] = price
        return price

    def with_overrides(
        self, prices: Mapping[str, ModelPrice | Mapping[str, Any]], *, version: str | None = None
    ) -> PriceTable:
        """A new table with ``prices`` added or replaced (dicts are validated like a file)."""
        parsed = _parse({"version": "overrides", "prices": dict(prices)}, "overrides")
        merged = {**self.prices, **parsed.prices}
        return PriceTable(merged, version or f"{self.version}+overrides", self.dataset)

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


_FREE = ModelPrice(0.0, 0.0, 0.0)

DEFAULT_PRICES = PriceTable(
    # Podium's offline doubles (podium.testing) cost nothing; every other model is priced by
    # the genai-prices dataset.
    {"scripted:": _FREE, "function:": _FREE},
    version=GenaiPrices().version,
    dataset=GenaiPrices(),
)
"""The ``genai-prices`` dataset; override its prices for your contract, region or deployment."""
