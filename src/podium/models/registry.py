"""Model strings (``openai:gpt-4.1-mini``) to :class:`Model` objects.

Provider modules are imported only when a string names them, so ``import podium`` never
imports a vendor SDK.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from podium.errors import SpecError
from podium.models.base import Model
from podium.models.resilience import RetryModel
from podium.retry import RetryPolicy

ModelFactory = Callable[[str], Model]

# provider prefix -> "module:factory"; the factory takes the model name after the colon.
_PROVIDERS: dict[str, str] = {
    "openai": "podium.providers.openai:OpenAIModel",
    "anthropic": "podium.providers.anthropic:AnthropicModel",
}
_EXTRAS = {"openai": "openai", "anthropic": "anthropic"}


def register_provider(prefix: str, factory: str | ModelFactory) -> None:
    """Make ``prefix:name`` strings resolve through ``factory`` (an object or import path)."""
    _PROVIDERS[prefix] = factory if isinstance(factory, str) else _register_callable(factory)


_CALLABLES: dict[str, ModelFactory] = {}


def _register_callable(factory: ModelFactory) -> str:
    key = f"callable:{id(factory)}"
    _CALLABLES[key] = factory
    return key


def infer_model(spec: str | Model, *, retry: RetryPolicy | None = None) -> Model:
    """Resolve a model string; a provider model is wrapped in :class:`RetryModel`."""
    if isinstance(spec, Model):
        return spec
    prefix, sep, name = spec.partition(":")
    if not sep or not name:
        raise SpecError(
            f"model {spec!r} must look like 'provider:model', e.g. 'openai:gpt-4.1-mini'"
        )
    target = _PROVIDERS.get(prefix)
    if target is None:
        known = ", ".join(sorted(_PROVIDERS))
        raise SpecError(f"unknown model provider {prefix!r} in {spec!r}; known: {known}")
    factory = _load(prefix, target)
    return RetryModel(factory(name), retry)


def _load(prefix: str, target: str) -> ModelFactory:
    if target in _CALLABLES:
        return _CALLABLES[target]
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        extra = _EXTRAS.get(prefix, prefix)
        raise SpecError(
            f"provider {prefix!r} needs an extra: pip install 'podium[{extra}]' ({error})"
        ) from error
    factory: ModelFactory = getattr(module, attr)
    return factory
