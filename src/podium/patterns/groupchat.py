"""Group chat: participants take turns on a shared transcript until a stop condition.

Round ``n``'s speaker runs at ``{path}/{speaker}[{n}]`` (``chat/alice[3]``). A function
selector's choice is journaled as ``{path}/select#n`` and an ``until`` verdict as
``{path}/until#n``; an agent selector runs at ``{path}/{selector}[{n}]``. A replay therefore
hears the same speakers in the same order and stops at the same round.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal, cast

import pydantic

from podium.agents import Agent
from podium.errors import PatternError, SpecError
from podium.patterns._fanout import check_name, did_you_mean, node_of
from podium.runtime import Context, Node, as_node
from podium.runtime.agent_loop import render
from podium.runtime.context import run_node

StoppedBy = Literal["keyword", "max_rounds", "until"]


@pydantic.dataclasses.dataclass(frozen=True)
class ChatTurn:
    """One message of the transcript."""

    speaker: str
    content: str


@pydantic.dataclasses.dataclass(frozen=True)
class GroupChatResult:
    transcript: list[ChatTurn]
    rounds: int
    stopped_by: StoppedBy
    final: str


Transcript = list[ChatTurn]
Selector = Literal["round_robin"] | Callable[[Transcript], str] | Agent


class GroupChat:
    """Participants (agents or nodes, with distinct names) speak in turn, one per round.

    Each speaker gets the task and the transcript so far as text and answers with one message
    (a non-text output is rendered as JSON). ``selector`` picks the speaker: ``"round_robin"``
    (in order), a function of the transcript returning a participant name, or an agent whose
    output is constrained to the participant names. The chat stops when a message contains
    ``stop_keyword``, when ``until(transcript)`` is true, or after ``max_rounds`` rounds.
    """

    kind = "group_chat"

    def __init__(
        self,
        name: str,
        participants: Sequence[Any],
        *,
        selector: Selector = "round_robin",
        max_rounds: int = 10,
        stop_keyword: str | None = None,
        until: Callable[[Transcript], bool] | None = None,
    ) -> None:
        self.name = check_name(name)
        if isinstance(participants, str | bytes) or not isinstance(participants, Sequence):
            raise SpecError(
                f"group chat {name!r}: participants must be a list of nodes, not {participants!r}"
            )
        if not participants:
            raise SpecError(f"group chat {name!r} needs at least one participant")
        nodes = [
            node_of(p, f"group chat {name!r} participant {i + 1}")
            for i, p in enumerate(participants)
        ]
        self.names = [check_name(n.name, f"group chat {name!r} participant") for n in nodes]
        repeated = sorted({n for n in self.names if self.names.count(n) > 1})
        if repeated:
            raise SpecError(f"group chat {name!r}: participant names {repeated} repeat")
        self.participants: dict[str, Node] = dict(zip(self.names, nodes, strict=True))
        self._pick_fn, self._pick_agent = self._check_selector(selector)
        if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
            raise SpecError(
                f"group chat {name!r}: max_rounds must be a positive integer, not {max_rounds!r}"
            )
        self.max_rounds = max_rounds
        if stop_keyword is not None and (not isinstance(stop_keyword, str) or not stop_keyword):
            raise SpecError(f"group chat {name!r}: stop_keyword must be non-empty text")
        self.stop_keyword = stop_keyword
        if until is not None and not callable(until):
            raise SpecError(f"group chat {name!r}: until must be a function of the transcript")
        self.until = until

    def _check_selector(self, selector: Any) -> tuple[Callable[..., Any] | None, Node | None]:
        if isinstance(selector, Agent):
            if selector.name in self.names:
                raise SpecError(
                    f"group chat {self.name!r}: the selector agent {selector.name!r} "
                    "has a participant's name; rename one of them"
                )
            names = cast(Any, Literal).__getitem__(tuple(self.names))
            return None, as_node(dataclasses.replace(selector, output_type=names))
        if selector == "round_robin":
            return None, None
        if callable(selector) and not isinstance(selector, str):
            return selector, None
        raise SpecError(
            f"group chat {self.name!r}: selector must be 'round_robin', a function of the "
            f"transcript or an Agent, not {selector!r}"
        )

    async def execute(self, ctx: Context, input: Any) -> GroupChatResult:
        transcript: Transcript = []
        for number in range(1, self.max_rounds + 1):
            speaker = await self._select(ctx, input, transcript, number)
            prompt = speaker_prompt(input, transcript, speaker)
            child = ctx.child(f"{speaker}[{number}]")
            output = await run_node(child, self.participants[speaker], prompt)
            transcript.append(ChatTurn(speaker, render(output)))
            stopped = await self._stopped_by(ctx, transcript)
            if stopped is not None:
                return GroupChatResult(transcript, number, stopped, transcript[-1].content)
        return GroupChatResult(transcript, self.max_rounds, "max_rounds", transcript[-1].content)

    async def _select(self, ctx: Context, task: Any, transcript: Transcript, number: int) -> str:
        if self._pick_agent is not None:
            child = ctx.child(f"{self._pick_agent.name}[{number}]")
            prompt = selector_prompt(task, transcript, self.names)
            choice = await run_node(child, self._pick_agent, prompt)
        elif self._pick_fn is not None:
            choice = await ctx.step("select", self._pick_fn, list(transcript), kind="decision")
        else:
            return self.names[(number - 1) % len(self.names)]
        if choice not in self.participants:
            hint = did_you_mean(choice, self.names)
            raise PatternError(
                f"group chat {self.name!r} at {ctx.path}: the selector chose {choice!r} in "
                f"round {number}, which is not a participant (participants: {self.names}){hint}"
            )
        return str(choice)

    async def _stopped_by(self, ctx: Context, transcript: Transcript) -> StoppedBy | None:
        if self.stop_keyword is not None and self.stop_keyword in transcript[-1].content:
            return "keyword"
        if self.until is None:
            return None
        done = await ctx.step("until", self.until, list(transcript), kind="decision")
        return "until" if done else None

    def __repr__(self) -> str:
        return f"GroupChat({self.name!r}, participants={self.names})"


def render_transcript(transcript: Transcript) -> str:
    if not transcript:
        return "(nobody has spoken yet)"
    return "\n\n".join(f"{turn.speaker}: {turn.content}" for turn in transcript)


def speaker_prompt(task: Any, transcript: Transcript, speaker: str) -> str:
    return (
        f"Task:\n{render(task)}\n\nConversation so far:\n{render_transcript(transcript)}\n\n"
        f"You are {speaker}. Write your next message."
    )


def selector_prompt(task: Any, transcript: Transcript, names: list[str]) -> str:
    return (
        f"Task:\n{render(task)}\n\nConversation so far:\n{render_transcript(transcript)}\n\n"
        f"Participants: {', '.join(names)}. Who should speak next? Answer with one name."
    )
