"""GroupChat: speakers chosen per round, a shared transcript, and three ways to stop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podium.agents import Agent
from podium.errors import SpecError
from podium.events import NodeStarted, StepCompleted
from podium.messages import ModelRequest, UserMessage
from podium.patterns.groupchat import ChatTurn, GroupChat
from podium.runtime import Context, Runtime
from podium.runtime.nodes import FunctionNode, function
from podium.store import MemoryStore, SQLiteStore, Store
from podium.testing import FunctionModel, ScriptedModel
from podium.types import RunStatus

pytestmark = pytest.mark.anyio

CALLS: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


class _Crash(BaseException):
    """The process dies (nothing is journaled for the step it was in)."""


def bump(name: str) -> int:
    CALLS[name] = CALLS.get(name, 0) + 1
    return CALLS[name]


def speaker(name: str, *lines: Any, crash_on: int | None = None) -> FunctionNode:
    """Says ``lines`` in turn (the last one again once they run out)."""

    def speak(prompt: str) -> Any:
        n = bump(name)
        if n == crash_on:
            raise _Crash()
        said = sum(1 for line in prompt.splitlines() if line.startswith(f"{name}: "))
        return lines[min(said, len(lines) - 1)]

    return function(speak, name=name)  # type: ignore[no-any-return]


async def run(node: Any, input: Any = "plan the launch", store: Store | None = None) -> Any:
    runtime = Runtime(store or MemoryStore())
    result = await runtime.run(node, input)
    events = [s.event for s in await runtime.store.read(result.run_id)]
    return result, events


def paths(events: list[Any]) -> list[str]:
    return [e.path for e in events if isinstance(e, NodeStarted)]


def steps(events: list[Any]) -> dict[str, Any]:
    return {e.key: e.result for e in events if isinstance(e, StepCompleted)}


def decisions(events: list[Any]) -> dict[str, Any]:
    return {
        e.key: e.result for e in events if isinstance(e, StepCompleted) and e.kind == "decision"
    }


async def test_round_robin_takes_turns_until_max_rounds() -> None:
    chat = GroupChat(
        "chat", [speaker("alice", "a1", "a2"), speaker("bob", "b1", "b2")], max_rounds=4
    )
    result, events = await run(chat)
    assert result.status is RunStatus.COMPLETED
    assert result.output == {
        "transcript": [
            {"speaker": "alice", "content": "a1"},
            {"speaker": "bob", "content": "b1"},
            {"speaker": "alice", "content": "a2"},
            {"speaker": "bob", "content": "b2"},
        ],
        "rounds": 4,
        "stopped_by": "max_rounds",
        "final": "b2",
    }
    assert paths(events) == ["chat", "chat/alice[1]", "chat/bob[2]", "chat/alice[3]", "chat/bob[4]"]
    assert steps(events) == {
        "chat/alice[1]/call#1": "a1",
        "chat/bob[2]/call#1": "b1",
        "chat/alice[3]/call#1": "a2",
        "chat/bob[4]/call#1": "b2",
    }  # round robin is not a decision: nothing else is journaled


async def test_each_speaker_reads_the_task_and_the_transcript() -> None:
    def bob_model(request: ModelRequest) -> str:
        return "Agreed."

    bob = Agent(name="bob", model=FunctionModel(bob_model))
    chat = GroupChat("chat", [speaker("alice", "Ship on Monday."), bob], max_rounds=2)
    await run(chat, {"goal": "launch"})
    prompt = _user_text(bob.model.requests[0])  # type: ignore[union-attr]
    assert prompt == (
        'Task:\n{"goal": "launch"}\n\nConversation so far:\nalice: Ship on Monday.\n\n'
        "You are bob. Write your next message."
    )


async def test_the_first_speaker_is_told_nobody_has_spoken_yet() -> None:
    seen: list[str] = []

    def solo(prompt: str) -> str:
        seen.append(prompt)
        return "hi"

    chat = GroupChat("chat", [function(solo)], max_rounds=1)
    result, _ = await run(chat)
    assert "(nobody has spoken yet)" in seen[0]
    assert result.output["final"] == "hi"


async def test_a_message_with_the_stop_keyword_ends_the_chat() -> None:
    chat = GroupChat(
        "chat",
        [speaker("alice", "draft", "fixed"), speaker("bob", "needs work", "APPROVED")],
        stop_keyword="APPROVED",
    )
    result, _ = await run(chat)
    assert (result.output["stopped_by"], result.output["rounds"], result.output["final"]) == (
        "keyword",
        4,
        "APPROVED",
    )


async def test_until_is_asked_after_every_message_and_journaled() -> None:
    def until(transcript: list[ChatTurn]) -> bool:
        bump("until")
        assert all(isinstance(t, ChatTurn) for t in transcript)
        return len(transcript) == 3

    chat = GroupChat("chat", [speaker("alice", "a"), speaker("bob", "b")], until=until)
    result, events = await run(chat)
    assert (result.output["stopped_by"], result.output["rounds"]) == ("until", 3)
    assert decisions(events) == {
        "chat/until#1": False,
        "chat/until#2": False,
        "chat/until#3": True,
    }


async def test_a_function_selector_chooses_each_speaker_and_its_choice_is_journaled() -> None:
    def moderator(transcript: list[ChatTurn]) -> str:
        bump("select")
        return "carol" if len(transcript) % 2 == 0 else "alice"

    people = [speaker("alice", "a"), speaker("bob", "b"), speaker("carol", "c")]
    chat = GroupChat("chat", people, selector=moderator, max_rounds=3)
    result, events = await run(chat)
    assert [t["speaker"] for t in result.output["transcript"]] == ["carol", "alice", "carol"]
    assert paths(events) == ["chat", "chat/carol[1]", "chat/alice[2]", "chat/carol[3]"]
    assert decisions(events) == {
        "chat/select#1": "carol",
        "chat/select#2": "alice",
        "chat/select#3": "carol",
    }


async def test_a_selector_naming_no_participant_fails_clearly() -> None:
    chat = GroupChat(
        "chat", [speaker("alice", "a"), speaker("bob", "b")], selector=lambda t: "alcie"
    )
    result, _ = await run(chat)
    assert result.status is RunStatus.FAILED
    assert result.error == (
        "PatternError: group chat 'chat' at chat: the selector chose 'alcie' in round 1, which "
        "is not a participant (participants: ['alice', 'bob']) (did you mean 'alice'?)"
    )


async def test_an_agent_selector_can_only_name_a_participant() -> None:
    model = ScriptedModel(['"bob"', '"alice"'])
    moderator = Agent(name="moderator", model=model, instructions="Pick who speaks.")
    people = [speaker("alice", "a"), speaker("bob", "b")]
    chat = GroupChat("chat", people, selector=moderator, max_rounds=2)
    result, events = await run(chat)
    assert [t["speaker"] for t in result.output["transcript"]] == ["bob", "alice"]
    assert paths(events) == [
        "chat",
        "chat/moderator[1]",
        "chat/bob[1]",
        "chat/moderator[2]",
        "chat/alice[2]",
    ]
    schema = model.requests[0].output_schema
    assert schema is not None
    assert schema["enum"] == ["alice", "bob"]
    assert _user_text(model.requests[1]).endswith(
        "bob: b\n\nParticipants: alice, bob. Who should speak next? Answer with one name."
    )


async def test_a_structured_message_is_rendered_as_json() -> None:
    chat = GroupChat("chat", [speaker("alice", {"vote": "yes"})], max_rounds=1)
    result, _ = await run(chat)
    assert result.output["final"] == '{"vote": "yes"}'


async def test_replay_after_a_crash_resumes_at_the_unfinished_round(tmp_path: Path) -> None:
    def alternate(transcript: list[ChatTurn]) -> str:
        bump("select")
        return ["alice", "bob"][len(transcript) % 2]

    people = [speaker("alice", "a1", "a2", crash_on=2), speaker("bob", "b1", "b2")]
    chat = GroupChat("chat", people, selector=alternate, max_rounds=4)
    db = tmp_path / "db.sqlite"
    run_id = await Runtime(SQLiteStore(db)).start(chat, "task")
    with pytest.raises(_Crash):
        await Runtime(SQLiteStore(db)).resume(run_id, chat)
    assert CALLS == {"select": 3, "alice": 2, "bob": 1}
    done: Any = (await Runtime(SQLiteStore(db)).resume(run_id, chat)).output  # another process
    assert [t["content"] for t in done["transcript"]] == ["a1", "b1", "a2", "b2"]
    assert CALLS == {"select": 4, "alice": 3, "bob": 2}  # only the crashed turn ran again


async def test_a_person_in_the_chat_suspends_it_until_they_reply(tmp_path: Path) -> None:
    async def human(ctx: Context, prompt: str) -> Any:
        return await ctx.wait_for("reply")

    model = ScriptedModel(["Shall we ship?"])
    alice = Agent(name="alice", model=model)
    chat = GroupChat("chat", [alice, human], stop_keyword="yes")
    db = tmp_path / "db.sqlite"
    first = await Runtime(SQLiteStore(db)).run(chat, "launch")
    assert first.status is RunStatus.SUSPENDED
    await Runtime(SQLiteStore(db)).signal(first.run_id, "reply", "yes, ship it")
    done: Any = (await Runtime(SQLiteStore(db)).resume(first.run_id, chat)).output
    assert (done["stopped_by"], done["final"]) == ("keyword", "yes, ship it")
    assert len(model.requests) == 1  # alice's turn was replayed, not asked again


@pytest.mark.parametrize(
    ("participants", "kwargs", "message"),
    [
        ([], {}, "needs at least one participant"),
        (["alice", "alice"], {}, r"participant names \['alice'\] repeat"),
        (["a/b"], {}, "participant name 'a/b' must be"),
        ([42], {}, "participant 1: 42 is not a node"),
        (["alice"], {"max_rounds": 0}, "max_rounds must be a positive integer"),
        (["alice"], {"max_rounds": True}, "max_rounds must be a positive integer"),
        (["alice"], {"stop_keyword": ""}, "stop_keyword must be non-empty text"),
        (["alice"], {"until": "done"}, "until must be a function"),
        (["alice"], {"selector": "random"}, "selector must be 'round_robin', a function"),
        (["alice"], {"selector": "AGENT"}, "the selector agent 'alice' has a participant's name"),
    ],
)
def test_invalid_definitions_are_refused(
    participants: list[Any], kwargs: dict[str, Any], message: str
) -> None:
    nodes = [speaker(p, "x") if isinstance(p, str) else p for p in participants]
    if kwargs.get("selector") == "AGENT":
        kwargs = {"selector": Agent(name="alice", model=ScriptedModel([]))}
    with pytest.raises(SpecError, match=message):
        GroupChat("chat", nodes, **kwargs)


def _user_text(request: ModelRequest) -> str:
    return next(m.content for m in request.messages if isinstance(m, UserMessage))
