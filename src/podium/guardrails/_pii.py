"""Personal data and secrets in text, with validation (Luhn, mod-97, entropy) so that order
numbers, dates, versions and commit hashes are not reported."""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from podium.guardrails._core import (
    Action,
    GuardrailSpecError,
    Hit,
    Stage,
    Verdict,
    nearest,
    parse_action,
    parse_stages,
    scan_strings,
)

KINDS: tuple[str, ...] = ("email", "phone", "card_number", "iban", "api_key")
# Earlier kinds win where matches overlap: an IBAN's digits are not also a card or a phone.
_PRIORITY = ("iban", "card_number", "api_key", "email", "phone")

# -- card numbers: 13-19 digits, groups of 3-6 or none, a card prefix, a valid Luhn sum ------

_DIGIT_RUN = re.compile(r"(?<![\w+])(?<!\d[ -])\d+(?:[ -]\d+)*(?!\w)")
_DIGITS = re.compile(r"\d+")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = int(char)
        if index % 2:
            number = number * 2 - 9 if number > 4 else number * 2
        total += number
    return total % 10 == 0


def _card_end(text: str, groups: list[tuple[int, int]], first: int) -> int | None:
    """The last group of the longest card number starting at group ``first``, if any.

    A number written in groups has groups of 3 to 6 digits; one without has none.
    """
    digits = ""
    candidates: list[tuple[int, str]] = []
    for last in range(first, len(groups)):
        start, end = groups[last]
        digits += text[start:end]
        if len(digits) > 19 or (last > first and not 3 <= end - start <= 6):
            break
        candidates.append((last, digits))
    if len(candidates) > 1 and not 3 <= groups[first][1] - groups[first][0] <= 6:
        candidates = candidates[:1]
    for last, number in reversed(candidates):
        if 13 <= len(number) <= 19 and number[0] in "23456" and luhn_valid(number):
            return last
    return None


def _cards(text: str) -> list[Hit]:
    hits: list[Hit] = []
    for run in _DIGIT_RUN.finditer(text):
        groups = [
            (run.start() + m.start(), run.start() + m.end()) for m in _DIGITS.finditer(run[0])
        ]
        first = 0
        while first < len(groups):
            last = _card_end(text, groups, first)
            if last is None:
                first += 1
                continue
            hits.append(
                Hit(groups[first][0], groups[last][1], "card_number", "luhn", "card number")
            )
            first = last + 1
    return hits


# -- IBANs: a country code, that country's length, and the ISO 7064 mod-97 check -------------

_IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}")
_IBAN_CHAR = re.compile(r"[A-Z0-9]")


def iban_valid(iban: str) -> bool:
    """Country length and mod-97 check of an IBAN written without spaces."""
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum() or not iban.isascii():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _take_iban(text: str, start: int, length: int) -> tuple[str, int] | None:
    """``length`` IBAN characters from ``start`` (single spaces allowed between groups)."""
    chars: list[str] = []
    index = start
    while len(chars) < length and index < len(text):
        char = text[index]
        if _IBAN_CHAR.match(char):
            chars.append(char)
        elif not (char == " " and chars and index + 1 < len(text) and text[index + 1] != " "):
            return None
        index += 1
    if len(chars) < length or (index < len(text) and text[index].isalnum()):
        return None
    return "".join(chars), index


def _ibans(text: str) -> list[Hit]:
    hits: list[Hit] = []
    for match in _IBAN_START.finditer(text):
        length = _IBAN_LENGTHS.get(match[0][:2])
        taken = _take_iban(text, match.start(), length) if length else None
        if taken and iban_valid(taken[0]):
            hits.append(Hit(match.start(), taken[1], "iban", "mod97", "IBAN"))
    return hits


# -- emails and phone numbers -----------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.+%-])[A-Za-z0-9][A-Za-z0-9._%+-]*@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+([A-Za-z]{2,24})(?![\w-])"
)
_FILE_SUFFIXES = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "pdf"})
# A phone number is not part of a longer run of digit groups (``0000 0000 0000 0000``).
_ALONE_BEFORE = r"(?<![\w+.-])(?<!\d[ .-])"
_ALONE_AFTER = r"(?![\w-])(?![ .-]\d)"
_PHONES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (rule, re.compile(_ALONE_BEFORE + pattern + _ALONE_AFTER))
    for rule, pattern in (
        # +44 20 7946 0958, +1 (555) 010-0199, +33 6 12 34 56 78, +4915112345678
        ("international", r"\+\d+(?:[ .-]?\(\d+\)|[ .-]\d+|(?<=\))\d+)*"),
        # (555) 010-0199, 555-010-0199, 555.010.0199
        ("north_american", r"(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4}"),
        # 020 7946 0958, 0161 496 0000, 07700 900123, 030 12345678
        ("trunk_prefix", r"0\d{1,4}[ -]\d{3,8}(?:[ -]\d{3,4})?"),
        # 06 12 34 56 78, 01.23.45.67.89
        ("paired_digits", r"0\d(?:[ .]\d{2}){4}"),
    )
)


def _emails(text: str) -> list[Hit]:
    return [
        Hit(m.start(), m.end(), "email", "email", "email address")
        for m in _EMAIL.finditer(text)
        if m[1].lower() not in _FILE_SUFFIXES
    ]


def _phones(text: str) -> list[Hit]:
    hits: list[Hit] = []
    for rule, pattern in _PHONES:
        for match in pattern.finditer(text):
            if 9 <= sum(char.isdigit() for char in match[0]) <= 15:
                hits.append(Hit(match.start(), match.end(), "phone", rule, "phone number"))
    return hits


# -- API keys and other secrets ----------------------------------------------------------------

_KEYS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("anthropic_key", re.compile(r"(?<![\w-])sk-ant-[A-Za-z0-9_-]{20,}")),
    ("openai_key", re.compile(r"(?<![\w-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    ("github_token", re.compile(r"(?<!\w)(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})")),
    ("aws_access_key", re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])")),
    ("slack_token", re.compile(r"(?<![\w-])xox[abprs]-[A-Za-z0-9-]{10,}")),
    ("google_api_key", re.compile(r"(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])")),
    ("stripe_key", re.compile(r"(?<!\w)(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    ("jwt", re.compile(r"(?<![\w-])eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}")),
    ("private_key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
)
_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,}={0,2}")
_MIXED_BODY = frozenset({"openai_key", "anthropic_key"})
_MAX_TOKEN = 256
_HEX = re.compile(r"[0-9a-f]+|[0-9A-F]+")
_WORDS = re.compile(r"[A-Z]?[a-z]{3,}|[A-Z]{2,}(?![a-z])|\d{3,}")
_HASH_CONTEXT = re.compile(r"(?i)(?:sha\w*|commit|hash|digest|checksum|md5|revision|rev)\W{0,3}$")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _wordiness(text: str) -> float:
    """The share of ``text`` in word-like runs (``Users``, ``settings``, ``2024``): high in
    paths, slugs and identifiers, low in random tokens."""
    return sum(len(word) for word in _WORDS.findall(text)) / len(text)


def _looks_random(token: str, before: str) -> bool:
    if len(token) > _MAX_TOKEN or before.endswith("base64,"):
        return False  # a data blob (an inline image, an attachment), not a credential
    if _HEX.fullmatch(token):
        mixed = any(c.isdigit() for c in token) and any(c.isalpha() for c in token)
        return mixed and not _HASH_CONTEXT.search(before) and _entropy(token) >= 3.0
    core = token.rstrip("=")
    classes = (str.isupper, str.islower, str.isdigit)
    if not all(any(test(c) for c in core) for test in classes):
        return False
    return _entropy(core) >= 3.8 and _wordiness(core) < 0.7


def _mixed(text: str) -> bool:
    return any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


def _keys(text: str) -> list[Hit]:
    hits: list[Hit] = []
    for rule, pattern in _KEYS:
        for match in pattern.finditer(text):
            if rule in _MIXED_BODY and not _mixed(match[0][3:]):
                continue  # sk-learn-style-pipeline-configuration is prose, not a key
            label = "private key" if rule == "private_key" else "API key"
            hits.append(Hit(match.start(), match.end(), "api_key", rule, label))
    for match in _TOKEN.finditer(text):
        if _looks_random(match[0], text[max(0, match.start() - 12) : match.start()]):
            hits.append(Hit(match.start(), match.end(), "api_key", "high_entropy", "secret token"))
    return hits


_DETECTORS: dict[str, Callable[[str], list[Hit]]] = {
    "email": _emails,
    "phone": _phones,
    "card_number": _cards,
    "iban": _ibans,
    "api_key": _keys,
}


def find_pii(text: str, kinds: Iterable[str] = KINDS) -> list[Hit]:
    """Non-overlapping hits of the given kinds, in text order (earlier kinds in the priority
    IBAN, card, key, email, phone win an overlap)."""
    wanted = set(kinds)
    taken: list[Hit] = []  # kept sorted by start
    for kind in _PRIORITY:
        if kind not in wanted:
            continue
        for hit in sorted(_DETECTORS[kind](text), key=lambda h: (h.start, -h.end)):
            index = bisect.bisect_left(taken, hit.start, key=lambda h: h.start)
            clear_before = index == 0 or taken[index - 1].end <= hit.start
            clear_after = index == len(taken) or hit.end <= taken[index].start
            if clear_before and clear_after:
                taken.insert(index, hit)
    return taken


class PII:
    """Emails, phone numbers, card numbers, IBANs and API keys; redacted by default.

    >>> PII().check("mail jane@example.com", "input").value
    'mail [REDACTED:email]'
    """

    def __init__(
        self,
        kinds: Sequence[str] = KINDS,
        *,
        action: Action = "redact",
        stages: Stage | Iterable[Stage] | None = None,
        name: str = "pii",
    ) -> None:
        if isinstance(kinds, str):
            kinds = (kinds,)
        for kind in kinds:
            if kind not in KINDS:
                raise GuardrailSpecError(
                    f"unknown PII kind {kind!r}; known kinds are {', '.join(KINDS)}",
                    option="kinds",
                    value=kind,
                    suggestion=nearest(kind, KINDS),
                )
        if not kinds:
            raise GuardrailSpecError("PII needs at least one kind", option="kinds")
        self.kinds: tuple[str, ...] = tuple(kinds)
        self.name = name
        self.stages = parse_stages(stages)
        self.action = parse_action(action, ("block", "redact", "flag"), name)

    def __repr__(self) -> str:
        return f"PII(kinds={self.kinds!r}, action={self.action!r})"

    def find(self, text: str) -> list[Hit]:
        return find_pii(text, self.kinds)

    def check(self, value: Any, stage: Stage) -> Verdict:
        findings, redacted = scan_strings(self.name, value, stage, self.find, numbers=True)
        return Verdict.from_findings(findings, value, action=self.action, redacted=redacted)
