"""Heuristics for instructions injected into untrusted text (a web page, an email, a tool result).

Each heuristic has a weight; a string trips when the weights of the distinct heuristics it
matches add up to the threshold. Strong signals (``ignore all previous instructions``, chat
template tokens, asking for the system prompt) trip alone; weak ones (an upper-case ``SYSTEM:``,
``act as root``, ``send ... to <address>``) only together, so that a customer who writes "you
are now an admin of the workspace" or "please send the invoice to billing@acme.com" passes.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from podium.guardrails._core import (
    Action,
    GuardrailSpecError,
    Hit,
    Stage,
    Verdict,
    parse_action,
    parse_stages,
    scan_strings,
)


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    weight: float
    description: str
    pattern: re.Pattern[str]


def _rule(name: str, weight: float, description: str, pattern: str, flags: int = re.I) -> _Rule:
    return _Rule(name, weight, description, re.compile(pattern, flags))


_STRONG = (
    r"all|any|every|your|previous|prior|above|earlier|preceding|foregoing|original|initial"
    r"|system|developer"
)
_NOUNS = (
    r"instructions?|prompts?|rules|directions|directives|guidelines|guardrails|constraints"
    r"|commands|programming"
)
_ADDRESS = r"(?:https?://|www\.|[\w.+-]+@[\w-]+\.)"
_SENSITIVE = re.compile(
    r"\b(?:conversation|chat|history|transcript|system\s+prompt|instructions|api[\s_-]?keys?"
    r"|secrets?|passwords?|credentials|tokens?|(?:all|every)\s+(?:of\s+)?(?:the\s+|your\s+)?"
    r"(?:data|files|emails|messages|records|documents|customers?|contacts|users?))\b",
    re.I,
)

RULES: tuple[_Rule, ...] = (
    _rule(
        "ignore_instructions",
        1.0,
        "asks to ignore earlier instructions",
        rf"\b(?:ignore|disregard|forget|override|bypass)\s+(?:(?:the|these|those|of)\s+)*"
        rf"(?:{_STRONG})\s+(?:(?:the|of|my|{_STRONG})\s+)*(?:{_NOUNS})\b"
        rf"|\b(?:ignore|disregard|forget)\s+(?:the|these|those|all)\s+(?:{_NOUNS})\s+"
        rf"(?:above|before|given|you\s+(?:were|have\s+been)\s+given)\b",
    ),
    _rule(
        "disregard_above",
        1.0,
        "asks to disregard what came before",
        r"\b(?:ignore|disregard|forget)\s+(?:(?:all|everything|anything)\s+(?:of\s+)?)?(?:the\s+)?"
        r"(?:above|preceding|foregoing)(?=\s*(?:[.,;:!\n]|$|and\b|then\b|instead\b))"
        r"|\bforget\s+everything\s+(?:you\s+(?:were|have\s+been)\s+(?:told|given|instructed)"
        r"|above|before)",
    ),
    _rule(
        "role_escalation",
        0.6,
        "tries to give the model a privileged role",
        r"\b(?:you\s+are\s+now|you're\s+now|act\s+as|acting\s+as|pretend\s+(?:to\s+be|you\s+are)"
        r"|behave\s+as|you\s+have\s+been\s+(?:promoted|granted|elevated)\s+to)\s+"
        r"(?:an?\s+|the\s+)?(?:\w+\s+)?(?:admin(?:istrator)?|root|superuser|sudo|system"
        r"|developer|god|unrestricted|unfiltered|jailbroken|DAN)\b",
    ),
    _rule(
        "jailbreak",
        0.6,
        "mentions a jailbreak mode",
        r"\b(?:developer|god|dan|jailbreak|unrestricted|unfiltered)\s+mode\b"
        r"|\bdo\s+anything\s+now\b|\bjailbr(?:oken|eak)\b"
        r"|\bno\s+longer\s+(?:bound|restricted)\s+by\b",
    ),
    _rule(
        "role_marker",
        0.6,
        "contains a fake role marker",
        r"(?:^|(?<=[\s\]>)]))(?:SYSTEM|ADMIN|DEVELOPER|ASSISTANT)"
        r"(?:\s+(?:MESSAGE|PROMPT|OVERRIDE|NOTE|INSTRUCTIONS?))?\s*:"
        r"|\[(?:system|SYSTEM|System|admin|ADMIN)\]|</?(?:system|SYSTEM)>",
        flags=re.M,
    ),
    _rule(
        "chat_template",
        1.0,
        "contains chat-template control tokens",
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\|>"
        r"|<<SYS>>|\[/?INST\]|<start_of_turn>",
    ),
    _rule(
        "new_instructions",
        0.6,
        "announces new instructions",
        r"\b(?:new|updated|revised|real|actual|true|secret|hidden|additional)\s+(?:system\s+)?"
        r"(?:instructions?|directives?|orders)\s*:"
        r"|\byour\s+(?:new|real|actual|true)\s+(?:instructions?|task|goal|objective|purpose)"
        r"\s+(?:is|are)\b",
    ),
    _rule(
        "reveal_prompt",
        1.0,
        "asks for the system prompt",
        r"\b(?:reveal|show|print|repeat|output|display|leak|dump|disclose|tell\s+me|give\s+me"
        r"|write\s+out|spell\s+out|what\s+(?:is|are|was|were))(?:\s+\w+){0,3}?\s+"
        r"(?:system\s+(?:prompt|message)|developer\s+message"
        r"|(?:initial|original|hidden|secret)\s+(?:prompt|instructions)"
        r"|your\s+(?:prompt|instructions)\s+(?:verbatim|word\s+for\s+word|in\s+full))\b",
    ),
    _rule(
        "reveal_secrets",
        0.6,
        "asks for secrets",
        r"\b(?:reveal|show|print|output|display|leak|dump|disclose|tell\s+me|give\s+me|send\s+me"
        r"|share)(?:\s+\w+){0,2}?\s+(?:api[\s_-]?keys?|secret\s+keys?|secrets|passwords?"
        r"|credentials|access\s+tokens?|env(?:ironment)?\s+variables)\b(?!\s+reset)",
    ),
    _rule(
        "markdown_exfiltration",
        1.0,
        "builds a link that would carry data out",
        r"!?\[[^\]]*\]\(\s*https?://[^)\s]*\?[^)\s]*=[^)\s]*[{<$][^)\s]*\)",
    ),
    _rule(
        "invisible_text",
        1.0,
        "hides text in invisible Unicode tag characters",
        "[\U000e0000-\U000e007f]",
    ),
)
_SEND = re.compile(
    r"\b(?:send|e-?mail|post|forward|upload|transmit|exfiltrate|leak|submit|copy)\b"
    rf"([^.\n]{{0,100}}?)\bto\s+{_ADDRESS}",
    re.I,
)
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{24,}={0,2}(?![A-Za-z0-9+/=])")
_DESCRIPTIONS = {
    "exfiltration": "asks to send private data to an outside address",
    "send_to_address": "asks to send something to an outside address",
    "encoded_instructions": "hides instructions in base64",
}
_WEIGHTS = {"exfiltration": 1.0, "send_to_address": 0.4, "encoded_instructions": 1.0}


def _decoded_text(blob: str) -> str | None:
    try:
        raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    printable = sum(char.isprintable() or char.isspace() for char in text)
    return text if text and printable / len(text) > 0.95 else None


def signals(text: str, *, decode: bool = True) -> list[Hit]:
    """Every heuristic match in ``text``; ``Hit.rule`` names the heuristic."""
    hits = [
        Hit(m.start(), m.end(), "injection", rule.name, rule.description)
        for rule in RULES
        for m in rule.pattern.finditer(text)
    ]
    for match in _SEND.finditer(text):
        name = "exfiltration" if _SENSITIVE.search(match[1]) else "send_to_address"
        hits.append(Hit(match.start(), match.end(), "injection", name, _DESCRIPTIONS[name]))
    if decode:
        for match in _BASE64.finditer(text):
            decoded = _decoded_text(match[0])
            if decoded and signals(decoded, decode=False):
                name = "encoded_instructions"
                hits.append(Hit(match.start(), match.end(), "injection", name, _DESCRIPTIONS[name]))
    return hits


def _weight(rule: str) -> float:
    return _WEIGHTS.get(rule) or next(r.weight for r in RULES if r.name == rule)


def score(hits: Iterable[Hit]) -> float:
    """The sum of the weights of the distinct heuristics among ``hits``."""
    return round(sum(_weight(rule) for rule in {hit.rule for hit in hits}), 6)


class PromptInjection:
    """Scores untrusted text for injected instructions; flags by default.

    ``threshold`` is the score at which a string trips (1.0: one strong signal or two weak
    ones). Every finding names the heuristic that matched (``Finding.rule``).
    """

    def __init__(
        self,
        *,
        threshold: float = 1.0,
        action: Action = "flag",
        stages: Stage | Iterable[Stage] | None = None,
        name: str = "prompt_injection",
    ) -> None:
        if not threshold > 0:
            raise GuardrailSpecError(
                f"threshold must be above 0, not {threshold!r}", option="threshold"
            )
        self.threshold = threshold
        self.name = name
        self.stages = parse_stages(stages)
        self.action = parse_action(action, ("block", "redact", "flag"), name)

    def __repr__(self) -> str:
        return f"PromptInjection(threshold={self.threshold!r}, action={self.action!r})"

    def score(self, text: str) -> float:
        return score(signals(text))

    def find(self, text: str) -> list[Hit]:
        """The matches in ``text`` if together they reach the threshold, else nothing."""
        hits = signals(text)
        total = score(hits)
        if total < self.threshold:
            return []
        return [
            Hit(
                h.start,
                h.end,
                h.kind,
                h.rule,
                f"possible prompt injection ({h.label}, score {total:.1f})",
            )
            for h in sorted(hits, key=lambda h: h.start)
        ]

    def check(self, value: Any, stage: Stage) -> Verdict:
        findings, redacted = scan_strings(self.name, value, stage, self.find)
        return Verdict.from_findings(findings, value, action=self.action, redacted=redacted)
