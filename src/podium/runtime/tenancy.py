"""The tenant boundary: the namespaces a caller may act in, and the scoped reads of a run.

A :class:`Namespaces` is what a caller holds — a runtime, a CLI invocation, an API credential.
Every run it names by id (result, resume, signal, cancel, resolve, decide, events...) is looked
up through :func:`scoped_record` or :func:`scoped_read`: a run of another namespace raises
exactly what an unknown run id raises (:class:`~podium.errors.RunNotFound`, same message),
before anything else is checked, so no answer tells a foreign run from a missing one — not even
that its journal is corrupt, tampered with or erased.

Acting in every namespace is an explicit opt-in: ``Namespaces.of("*")`` (:data:`EVERY`), for an
operator.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from podium.errors import PodiumError, RunNotFound, UserError
from podium.events import RunStarted
from podium.store import RunFilter, RunRecord, Store, StoredEvent

EVERY = "*"  # the opt-in for every namespace (an operator)


@dataclass(frozen=True, slots=True)
class Namespaces:
    """The namespaces a caller may act in: ``names``, or every one when ``every``."""

    names: frozenset[str] = frozenset()
    every: bool = False

    @classmethod
    def of(cls, namespaces: str | Iterable[str]) -> Namespaces:
        """``"acme"``, ``["acme", "globex"]``, or ``"*"`` for every namespace."""
        items = [namespaces] if isinstance(namespaces, str) else list(namespaces)
        if EVERY in items:
            return cls(every=True)
        for name in items:
            check_name(name)
        if not items:
            raise UserError("a caller must be allowed at least one namespace")
        return cls(names=frozenset(items))

    def allows(self, namespace: str) -> bool:
        return self.every or namespace in self.names

    def filters(self, namespace: str | None = None) -> list[str | None]:
        """The ``RunFilter.namespace`` values to query for ``namespace`` (None: all of the
        caller's): ``[None]`` means every namespace, ``[]`` means none (a foreign one)."""
        if namespace is not None:
            return [namespace] if self.allows(namespace) else []
        names: list[str | None] = [None] if self.every else [*sorted(self.names)]
        return names

    def describe(self) -> str:
        return "every namespace" if self.every else ", ".join(sorted(self.names))


def check_name(namespace: object) -> str:
    """A namespace name: a non-empty string other than ``*`` (which means every namespace)."""
    if not isinstance(namespace, str) or not namespace.strip() or namespace == EVERY:
        raise UserError(
            f"{namespace!r} is not a namespace name (a non-empty string; '*' means every "
            "namespace and is only accepted where a caller chooses the namespaces it acts in)"
        )
    return namespace


async def scoped_record(store: Store, run_id: str, scope: Namespaces) -> RunRecord:
    """The index row of ``run_id`` if the caller may see it, else ``RunNotFound``."""
    record = await store.get_run(run_id)
    if not scope.allows(record.namespace):
        raise RunNotFound(run_id)
    return record


async def scoped_read(
    store: Store, run_id: str, scope: Namespaces, *, after_seq: int = 0, verify: bool = False
) -> list[StoredEvent]:
    """The events of ``run_id`` (``Store.read``) if the caller may see the run, else
    ``RunNotFound`` — also when the read fails (erased, corrupt, tampered): that is said only
    to a caller of the run's namespace."""
    if scope.every:
        return await store.read(run_id, after_seq=after_seq, verify=verify)
    if after_seq > 0:
        await scoped_record(store, run_id, scope)
        return await store.read(run_id, after_seq=after_seq, verify=verify)
    try:
        stored = await store.read(run_id, verify=verify)
    except RunNotFound:
        raise
    except PodiumError:
        await scoped_record(store, run_id, scope)
        raise
    started = stored[0].event if stored else None
    if not isinstance(started, RunStarted) or not scope.allows(started.namespace):
        raise RunNotFound(run_id)
    return stored


async def scoped_list(store: Store, query: RunFilter, scope: Namespaces) -> list[RunRecord]:
    """``Store.list_runs`` within the caller's namespaces (``query.namespace`` narrows it; a
    foreign one finds nothing), newest first."""
    found: list[RunRecord] = []
    for namespace in scope.filters(query.namespace):
        found.extend(await store.list_runs(_with_namespace(query, namespace)))
    if len(found) > 1 and not scope.every and query.namespace is None:
        found.sort(key=lambda r: (r.created_at, r.run_id), reverse=True)
    return found[: query.limit]


def _with_namespace(query: RunFilter, namespace: str | None) -> RunFilter:
    return replace(query, namespace=namespace)


__all__ = [
    "EVERY",
    "Namespaces",
    "check_name",
    "scoped_list",
    "scoped_read",
    "scoped_record",
]
