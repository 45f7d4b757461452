"""Model providers: translate Podium's provider-neutral messages to vendor SDK calls.

Each module imports its vendor SDK (an optional extra) and is imported only when a model
string names it (see :func:`podium.models.infer_model`):

- :mod:`podium.providers.openai` — :class:`OpenAIModel`, OpenAI Chat Completions and every
  OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio, gateways) via ``base_url``.
- :mod:`podium.providers.anthropic` — :class:`AnthropicModel`, the Anthropic Messages API.

Providers never retry (the SDKs' own retries are off): retries and failover are
:class:`~podium.models.RetryModel` and :class:`~podium.models.FallbackModel`, so every attempt
is journaled. Every vendor failure surfaces as a :class:`~podium.errors.ModelError`.
"""
