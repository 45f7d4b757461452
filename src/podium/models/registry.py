"""Model strings (``openai:gpt-4.1-mini``) to :class:`Model` objects.

Provider modules are imported only when a string names them, so ``import podium`` never
imports a vendor SDK.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from podium.errors import SpecError
from podium.models.base import Model, is_loopback
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
            f"provider {prefix!r} needs an extra: pip install -e '.[{extra}]' (in a clone of "
            f"the repository) ({error})"
        ) from error
    factory: ModelFactory = getattr(module, attr)
    return factory


@dataclass(frozen=True, slots=True)
class ProviderSetup:
    """What a built-in provider needs from its environment: its SDK (a pip extra), an API key
    variable, and the variables that point it at another server (first set wins)."""

    sdk: str
    key_variable: str
    base_url_variables: tuple[str, ...]


SETUP: dict[str, ProviderSetup] = {
    "openai": ProviderSetup(
        "openai", "OPENAI_API_KEY", ("PODIUM_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    ),
    "anthropic": ProviderSetup(
        "anthropic", "ANTHROPIC_API_KEY", ("PODIUM_ANTHROPIC_BASE_URL", "ANTHROPIC_BASE_URL")
    ),
}


def base_url_from(prefix: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The base URL a built-in provider takes from the environment, if one is set."""
    environ = os.environ if environ is None else environ
    setup = SETUP.get(prefix)
    names = setup.base_url_variables if setup else ()
    return next((environ[name] for name in names if environ.get(name)), None)


def model_setup_problem(spec: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Why the model string ``spec`` cannot be called from this environment, or None: an
    unknown provider, its SDK not installed, a base URL that is not a URL, or no API key (a
    server on loopback needs none). Nothing is imported and nothing is called."""
    environ = os.environ if environ is None else environ
    prefix = spec.partition(":")[0]
    if prefix not in _PROVIDERS:
        return f"unknown model provider {prefix!r}; known: {', '.join(sorted(_PROVIDERS))}"
    setup = SETUP.get(prefix)
    if setup is None:
        return None  # a provider registered by the application knows its own needs
    if importlib.util.find_spec(setup.sdk) is None:
        extra = _EXTRAS.get(prefix, prefix)
        return (
            f"provider {prefix!r} needs its SDK: pip install -e '.[{extra}]' (in a clone of the "
            "repository)"
        )
    base_url = base_url_from(prefix, environ)
    parts = urlsplit(base_url) if base_url else None
    if parts is not None and (parts.scheme not in ("http", "https") or not parts.hostname):
        variable = next(n for n in setup.base_url_variables if environ.get(n))
        return f"{variable}={base_url!r} is not a URL: expected http(s)://host[:port]/path"
    if environ.get(setup.key_variable) or is_loopback(base_url):
        return None
    return (
        f"no API key for {spec!r}: set {setup.key_variable} in the environment of `podium run` "
        f"and `podium worker` (or point {setup.base_url_variables[-1]} at a server on this "
        "machine, which needs none)"
    )
