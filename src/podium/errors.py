"""Podium's exception tree.

Signals (control flow, not failures) derive from ``BaseException`` so that a broad
``except Exception`` in user code cannot swallow them::

    BaseException
    └── PodiumSignal
        ├── Suspend             the run waits (signal, timer, unknown step); no task is kept
        └── RunCancelled        the run was cancelled from outside

    Exception
    └── PodiumError
        ├── UserError                   the caller did something wrong (bad config, bad target)
        │   ├── SpecError               a workflow/agent definition is invalid
        │   │   └── SpecValidationError a YAML spec is invalid: every issue, located
        │   │                           (defined in podium.spec.errors)
        │   └── ToolDefinitionError     a function cannot become a tool
        ├── RunNotFound                 no run with that id
        ├── PermissionDenied            a principal lacks the role, or an action is not allowed
        │   ├── ApprovalMismatch        a decision for another action than the one pending
        │   └── ApprovalExpired         a decision after the request expired (it was routed
        │                               to its expiry: denied, or escalated to another role)
        ├── RunStateError               the run is not in a state that allows the operation
        │   └── RunLeased               another live execution holds the run's lease
        ├── StoreError                  the store failed or holds bad data
        │   ├── ConcurrencyError        append with a stale expected sequence
        │   │   └── RunIdTaken          start with a run id that exists (in any namespace)
        │   ├── LeaseLost               a fenced write after another worker claimed the run
        │   ├── CorruptJournalError     a row cannot be read; names run and sequence
        │   │   └── TamperedJournalError  the hash chain breaks (an executor refuses to act)
        │   ├── PayloadTooLargeError    an event over the size limit; nothing is written
        │   ├── InvalidPayloadError     an event holds something that is not plain JSON
        │   └── MigrationError          the database schema is newer or broken
        ├── FatalError                  stops the run; never collected as a branch failure
        │   ├── NonDeterminismError     replay asked for a different step than the journal
        │   └── BudgetExceeded          a budget limit would be crossed (podium.budget)
        ├── ModelError                  a model call failed
        │   ├── ModelHTTPError          status code (+ Retry-After), retryable on 429/5xx
        │   ├── ModelTimeoutError       retryable
        │   ├── ModelConnectionError    retryable
        │   ├── ModelResponseError      the response could not be understood
        │   │   └── ModelProtocolError  the provider answered outside its protocol
        │   │                           (e.g. negative usage); names provider, model, field
        │   └── RealModelRequestBlocked a test tried to reach a real provider
        ├── ToolError                   a tool failed (goes back to the model as text)
        │   ├── ToolArgumentsError      arguments are not strict JSON or not the schema
        │   ├── ToolResultError         a result the journal cannot record (NaN, too large)
        │   └── ToolTimeoutError
        ├── StepFailedError             a journaled step failure, re-raised on replay
        ├── AgentRunError               an agent could not finish
        │   ├── MaxTurnsExceeded
        │   └── OutputValidationError   structured output still invalid after re-asks
        └── PatternError                a pattern could not produce its result
            ├── QuorumNotReached        fewer than k branches succeeded
            ├── HandoffLimitExceeded    control was passed on more than max_handoffs times
            ├── StepLimitExceeded       a graph ran more supersteps than max_steps
            └── NoConsensus             a vote tied and tie_break is "fail"
"""

from __future__ import annotations


class PodiumSignal(BaseException):
    """Control flow that must unwind user code untouched."""


class Suspend(PodiumSignal):
    """The run cannot go on until something outside it happens."""

    def __init__(self, reason: str, *, wake_at: float | None = None, waiting_for: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.wake_at = wake_at
        self.waiting_for = waiting_for
        self.at = ""  # the step key that suspended, set by the kernel


class RunCancelled(PodiumSignal):
    """The run was cancelled (or another executor took it over) while this one ran."""


class PodiumError(Exception):
    """Base of every failure Podium raises."""


class UserError(PodiumError):
    """The caller asked for something invalid."""


class SpecError(UserError):
    """A workflow, agent or model definition is invalid."""


class ToolDefinitionError(UserError):
    """A Python function cannot be turned into a tool."""


class RunNotFound(PodiumError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run with id {run_id!r}")
        self.run_id = run_id


class RunStateError(PodiumError):
    """The run's status does not allow the requested operation."""


class RunLeased(RunStateError):
    """Another execution (a worker, a ``podium run``) holds the run's unexpired lease: it is
    running there, so it is not resumed here. ``owner`` names the holder; ``seconds_left`` is
    how long its lease still runs if it stops renewing it (it renews while it lives)."""

    def __init__(self, run_id: str, owner: str, seconds_left: float) -> None:
        super().__init__(
            f"run {run_id} is being executed by {owner} (its lease runs {seconds_left:.0f} s "
            "more and is renewed while it lives): not resumed here; follow it with "
            f"`podium logs -f {run_id}`, or resume it after that execution stopped"
        )
        self.run_id = run_id
        self.owner = owner
        self.seconds_left = seconds_left


class StoreError(PodiumError):
    """The store failed or holds data it cannot read."""


class ConcurrencyError(StoreError):
    def __init__(self, run_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"run {run_id}: append expected last sequence {expected}, store has {actual}"
        )
        self.run_id = run_id
        self.expected = expected
        self.actual = actual


class RunIdTaken(ConcurrencyError):
    """``Runtime.start`` with a run id that exists already (in any namespace: the message says
    nothing more, so it tells no tenant about another's run)."""

    def __init__(self, run_id: str) -> None:
        StoreError.__init__(self, f"run id {run_id!r} is already taken: nothing was started")
        self.run_id = run_id
        self.expected = 0
        self.actual = -1  # not said


class CorruptJournalError(StoreError):
    def __init__(self, run_id: str, seq: int, reason: str) -> None:
        super().__init__(f"run {run_id}: journal row seq={seq} is unreadable: {reason}")
        self.run_id = run_id
        self.seq = seq
        self.reason = reason


class TamperedJournalError(CorruptJournalError):
    """The run's hash chain does not hold at ``seq``: a row was modified, inserted or removed
    after it was written. Executors refuse to act on such a journal (nothing is executed)."""

    def __init__(self, run_id: str, seq: int, reason: str) -> None:
        StoreError.__init__(
            self,
            f"run {run_id}: the journal's hash chain breaks at seq {seq}: {reason}; "
            "nothing was executed (`podium audit verify` checks the whole run)",
        )
        self.run_id = run_id
        self.seq = seq
        self.reason = reason


class MigrationError(StoreError):
    """The database schema cannot be brought to this version of Podium."""


class FatalError(PodiumError):
    """Stops the whole run: patterns never turn it into a branch failure or a tool error."""


class NonDeterminismError(FatalError):
    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"non-deterministic replay at step {step!r}: {detail}")
        self.step = step
        self.detail = detail


class ModelError(PodiumError):
    """A model call failed. ``retryable`` says whether retry/failover may help."""

    retryable: bool = False

    def __init__(self, message: str, *, model: str = "") -> None:
        super().__init__(message)
        self.model = model


class ModelHTTPError(ModelError):
    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        model: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"HTTP {status_code}: {message}", model=model)
        self.status_code = status_code
        self.retry_after = retry_after
        self.retryable = status_code in (408, 409, 429) or status_code >= 500


class ModelTimeoutError(ModelError):
    retryable = True


class ModelConnectionError(ModelError):
    retryable = True


class ModelResponseError(ModelError):
    """The provider answered something Podium cannot interpret."""


class ModelProtocolError(ModelResponseError):
    """The provider answered outside its protocol: a field holds what it never may (negative
    or non-integer usage). Not retryable: the run fails closed, with the response journaled."""

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        field: str,
        value: object,
        expected: str = "a whole number >= 0",
    ) -> None:
        super().__init__(
            f"provider {provider!r} (model {model!r}) broke its protocol: {field} is "
            f"{value!r:.80}; it must be {expected}",
            model=model,
        )
        self.provider = provider
        self.field = field
        self.value = value


class RealModelRequestBlocked(ModelError):
    """Raised when model requests to non-loopback hosts are disabled (tests)."""


class ToolError(PodiumError):
    """A tool failed; the message goes back to the model."""


class ToolArgumentsError(ToolError):
    pass


class ToolResultError(ToolError):
    """A tool's result cannot be recorded (not strict JSON, or over the journal's size limit);
    the model reads this error instead of the result."""


class ToolTimeoutError(ToolError):
    pass


class StepFailedError(PodiumError):
    """A step whose failure is in the journal; replay raises the same error again."""

    def __init__(self, step: str, error_type: str, message: str) -> None:
        super().__init__(f"step {step!r} failed: {error_type}: {message}")
        self.step = step
        self.error_type = error_type
        self.error_message = message


class AgentRunError(PodiumError):
    """An agent could not produce its output."""


class MaxTurnsExceeded(AgentRunError):
    pass


class OutputValidationError(AgentRunError):
    pass


class PayloadTooLargeError(StoreError):
    def __init__(self, run_id: str, event_type: str, size: int, limit: int) -> None:
        super().__init__(
            f"run {run_id}: {event_type} event is {size} bytes, over the {limit}-byte limit"
        )
        self.run_id = run_id
        self.size = size
        self.limit = limit


class InvalidPayloadError(StoreError):
    def __init__(self, run_id: str, event_type: str, reason: str) -> None:
        super().__init__(f"run {run_id}: {event_type} event is not plain JSON: {reason}")
        self.run_id = run_id
        self.reason = reason


class PatternError(PodiumError):
    """A pattern (parallel, handoff, graph...) could not produce its result."""


class QuorumNotReached(PatternError):
    pass


class HandoffLimitExceeded(PatternError):
    pass


class StepLimitExceeded(PatternError):
    pass


class NoConsensus(PatternError):
    pass


class PermissionDenied(PodiumError):
    """Who asked may not do this (a missing role or scope, self-approval, a refused action)."""


class ApprovalMismatch(PermissionDenied):
    """A decision names a different action (digest) than the one waiting for approval."""


class ApprovalExpired(PermissionDenied):
    """The request expired before this decision (on the store's clock): the decision is not
    recorded; the expiry is (denied, or escalated to ``escalated_to`` as a new request)."""

    def __init__(self, message: str, *, escalated_to: str | None = None) -> None:
        super().__init__(message)
        self.escalated_to = escalated_to  # the new approval id, if escalated


class LeaseLost(StoreError):
    """The run was claimed by another worker since this lease: nothing was written."""

    def __init__(self, run_id: str, detail: str = "") -> None:
        super().__init__(f"run {run_id}: the lease moved on{': ' + detail if detail else ''}")
        self.run_id = run_id
