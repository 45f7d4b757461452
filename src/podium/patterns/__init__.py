"""Orchestration patterns: every one is a node, every node nests in every other, and every
node is durable through the journal.

- :class:`Sequential` — each step's output is the next one's input.
- :class:`Parallel` / :class:`Map` — fan-out/fan-in with a reducer, failure policies
  (``fail_fast``, ``collect``, :class:`Quorum`) and a concurrency limit.
- :class:`Supervisor` — a manager delegating to workers (also spawned on the fly).
- :class:`Handoff` — triage passes control to specialists (also to several at once).
- :class:`Loop` — worker + evaluator until it passes or a cap.
- :class:`Consensus` — several solvers, decided by a judge or a (weighted) vote.
- :class:`GroupChat` — participants take turns on one transcript, picked by a selector.
- :class:`Graph` — named nodes, (conditional) edges, cycles with a cap, typed shared state.
- :class:`Approval` / :class:`Input` — a person approves, or answers a question.
"""

from podium.patterns._fanout import SKIPPED, BranchFailure, Quorum
from podium.patterns.consensus import Candidate, Consensus, ConsensusResult
from podium.patterns.graph import END, Graph
from podium.patterns.groupchat import ChatTurn, GroupChat, GroupChatResult
from podium.patterns.handoff import Handoff
from podium.patterns.hierarchy import Supervisor
from podium.patterns.human import Approval, ApprovalResult, Escalation, Input
from podium.patterns.loop import Loop, LoopResult, Verdict
from podium.patterns.parallel import Map, Parallel
from podium.patterns.sequential import Sequential

__all__ = [
    "END",
    "SKIPPED",
    "Approval",
    "ApprovalResult",
    "BranchFailure",
    "Candidate",
    "ChatTurn",
    "Consensus",
    "ConsensusResult",
    "Escalation",
    "Graph",
    "GroupChat",
    "GroupChatResult",
    "Handoff",
    "Input",
    "Loop",
    "LoopResult",
    "Map",
    "Parallel",
    "Quorum",
    "Sequential",
    "Supervisor",
    "Verdict",
]
