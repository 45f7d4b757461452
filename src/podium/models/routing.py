"""Cost-aware model routing: a :class:`Router` is a model that picks a model per request.

It decides by rules (the task's tag, the request's input size, the capabilities the request
needs) or by a classifier model, and escalates cheap -> strong when a validator or an
evaluator model rejects an answer. Inside a run the runtime journals every decision and its
cost (:mod:`podium.runtime.routing`); outside a run (``await router.request(...)``) the same
decisions are taken without a journal. See docs/routing.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from podium.errors import UserError
from podium.messages import ModelRequest, ModelResponse, StreamItem, SystemMessage, UserMessage
from podium.models.base import Model
from podium.models.registry import infer_model
from podium.tokens import count_tokens

Validator = Callable[[ModelRequest, ModelResponse], bool | str | None]
"""``True``/``None``: accepted; ``False`` or a reason (a string): rejected."""

CLASSIFY = (
    "Classify the request below for routing. Reply with exactly one label from: {labels}.\n"
    "Request:\n{text}"
)
EVALUATE = (
    "You check another model's answer. Reply PASS if the answer fully and correctly answers "
    "the request, else FAIL followed by the reason.\nRequest:\n{request}\nAnswer:\n{answer}"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Rule:
    """Route to ``model`` (a name in the router's ``models``) when every condition set holds:
    the task's tag is in ``tags``; the input is at most ``max_input_tokens``."""

    model: str
    tags: frozenset[str] = frozenset()
    max_input_tokens: int | None = None

    def matches(self, tag: str | None, tokens: int) -> bool:
        if self.tags and tag not in self.tags:
            return False
        return self.max_input_tokens is None or tokens <= self.max_input_tokens


@dataclass(frozen=True, slots=True)
class Decision:
    """The model picked for one attempt and why (what the journal records)."""

    model: str
    reason: str
    input_tokens: int


@dataclass(kw_only=True, eq=False)
class Router(Model):
    """A model that routes each request to one of ``models``, ordered cheapest first.

    - ``rules``: the first rule that matches picks the model; none matches: ``default``
      (the cheapest if unset). ``classifier`` (a model) and ``labels`` (label -> model name)
      decide instead of rules: the classifier is asked for a label, and an unknown label
      falls back to the rules.
    - ``capabilities``: model name -> what it can do; a request needing ``tools`` (it lists
      tools), ``structured_output`` (it has an output schema) or the task's ``requires``
      moves up the ladder to the first model that has them all. A model not listed can do all.
    - ``validator`` / ``evaluator``: an answer rejected by either is retried on the next
      stronger model, up to the strongest (whose answer is kept).
    - ``tag`` / ``requires``: the task this router serves; :meth:`for_task` makes a copy for
      another task sharing the same configuration.
    """

    models: Sequence[Model | str]
    rules: Sequence[Rule] = ()
    default: str | None = None
    classifier: Model | str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    capabilities: Mapping[str, frozenset[str]] = field(default_factory=dict)
    validator: Validator | None = None
    evaluator: Model | str | None = None
    tag: str | None = None
    requires: frozenset[str] = frozenset()
    _built: dict[str, Model] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        names = self.names
        if not names:
            raise UserError("Router needs at least one model")
        if len(set(names)) != len(names):
            raise UserError(f"Router: duplicate model names {names}")
        known = set(names)
        wanted = [r.model for r in self.rules] + list(self.labels.values())
        wanted += [self.default] if self.default is not None else []
        wanted += list(self.capabilities)
        unknown = sorted({w for w in wanted if w not in known})
        if unknown:
            raise UserError(f"Router: {unknown} not among its models {names}")
        if self.labels and self.classifier is None:
            raise UserError("Router: labels need a classifier model")
        self.requires = frozenset(self.requires)

    @property
    def names(self) -> list[str]:
        return [m if isinstance(m, str) else m.name for m in self.models]

    @property
    def name(self) -> str:
        return "router:" + "|".join(self.names)

    def for_task(self, tag: str, *, requires: Sequence[str] = ()) -> Router:
        """This router for requests of task ``tag`` (sharing the built models)."""
        return Router(
            models=self.models, rules=self.rules, default=self.default,
            classifier=self.classifier, labels=self.labels, capabilities=self.capabilities,
            validator=self.validator, evaluator=self.evaluator, tag=tag,
            requires=frozenset(requires), _built=self._built,
        )  # fmt: skip

    def model(self, name: str) -> Model:
        """The member model called ``name`` (built from its model string once)."""
        found = self._built.get(name)
        if found is None:
            index = self.names.index(name)
            spec = self.models[index]
            found = self._built[name] = infer_model(spec) if isinstance(spec, str) else spec
        return found

    # -- decisions (pure) -----------------------------------------------------------------

    def by_rules(self, request: ModelRequest) -> Decision:
        tokens = count_tokens(request)
        for index, rule in enumerate(self.rules):
            if rule.matches(self.tag, tokens):
                return self._capable(rule.model, f"rule {index + 1}", tokens, request)
        chosen = self.default or self.names[0]
        return self._capable(chosen, "default", tokens, request)

    def by_label(self, label: str, request: ModelRequest) -> Decision:
        chosen = self.labels.get(label.strip().lower())
        if chosen is None:
            decision = self.by_rules(request)
            return Decision(decision.model, f"classifier said {label[:40]!r}; {decision.reason}",
                            decision.input_tokens)  # fmt: skip
        return self._capable(chosen, f"classifier: {label.strip()}", count_tokens(request), request)

    def escalation(self, current: str) -> str | None:
        """The next stronger model after ``current``, or None at the top."""
        index = self.names.index(current)
        return self.names[index + 1] if index + 1 < len(self.names) else None

    def needs(self, request: ModelRequest) -> frozenset[str]:
        needed = set(self.requires)
        if request.tools:
            needed.add("tools")
        if request.output_schema is not None:
            needed.add("structured_output")
        return frozenset(needed)

    def _capable(self, name: str, reason: str, tokens: int, request: ModelRequest) -> Decision:
        needed = self.needs(request)
        names = self.names
        for candidate in names[names.index(name) :]:
            has = self.capabilities.get(candidate)
            if has is None or needed <= has:
                if candidate != name:
                    reason += f"; {name} lacks {sorted(needed - has_of(self, name))}"
                return Decision(candidate, reason, tokens)
        raise UserError(f"Router: no model has the capabilities {sorted(needed)}")

    def classify_request(self, request: ModelRequest) -> ModelRequest:
        text = "\n".join(m.content for m in request.messages if isinstance(m, UserMessage))
        prompt = CLASSIFY.format(labels=", ".join(sorted(self.labels)), text=text)
        return ModelRequest(messages=(UserMessage(content=prompt),))

    def evaluate_request(self, request: ModelRequest, response: ModelResponse) -> ModelRequest:
        asked = "\n".join(
            m.content for m in request.messages if isinstance(m, UserMessage | SystemMessage)
        )
        prompt = EVALUATE.format(request=asked, answer=response.text)
        return ModelRequest(messages=(UserMessage(content=prompt),))

    def validate(self, request: ModelRequest, response: ModelResponse) -> str | None:
        """None if the validator accepts (or there is none), else the reason it rejected."""
        if self.validator is None:
            return None
        verdict = self.validator(request, response)
        if verdict is None or verdict is True:
            return None
        return "validator: " + (verdict if isinstance(verdict, str) else "rejected")

    # -- outside a run: the same decisions, unjournaled -----------------------------------

    async def request(self, request: ModelRequest) -> ModelResponse:
        if self.classifier is not None and self.labels:
            label = await self.member(self.classifier).request(self.classify_request(request))
            decision = self.by_label(label.text, request)
        else:
            decision = self.by_rules(request)
        current: str | None = decision.model
        while True:
            assert current is not None
            response = await self.model(current).request(request)
            following = self.escalation(current)
            if following is None:
                return response  # the strongest answer is kept
            rejected = self.validate(request, response) or await self._evaluated(request, response)
            if rejected is None:
                return response
            current = following

    async def _evaluated(self, request: ModelRequest, response: ModelResponse) -> str | None:
        if self.evaluator is None:
            return None
        verdict = await self.member(self.evaluator).request(
            self.evaluate_request(request, response)
        )
        return evaluator_rejection(verdict.text)

    def member(self, model: Model | str) -> Model:
        if isinstance(model, Model):
            return model
        found = self._built.get(model)
        if found is None:
            found = self._built[model] = infer_model(model)
        return found

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        yield await self.request(request)  # a routed answer is only known once validated

    async def aclose(self) -> None:
        for model in self._built.values():
            await model.aclose()


def has_of(router: Router, name: str) -> frozenset[str]:
    return router.capabilities.get(name, frozenset())


def evaluator_rejection(text: str) -> str | None:
    """None if an evaluator's answer starts with PASS, else its reason."""
    stripped = text.strip()
    if stripped.upper().startswith("PASS"):
        return None
    return "evaluator: " + (stripped[:200] or "no verdict")


__all__ = ["Decision", "Router", "Rule", "Validator", "evaluator_rejection"]
