"""Runs, events and deployments as plain JSON values (what the API answers)."""

from __future__ import annotations

import json
from typing import Any

from podium.events import NodeFinished, NodeStarted, encode
from podium.runtime import RunResult
from podium.store import RunRecord, StoredEvent
from podium.store.control import ApiKey, Deployment, OperatorEntry


def run_summary(record: RunRecord) -> dict[str, Any]:
    return {
        "run_id": record.run_id, "workflow": record.workflow, "namespace": record.namespace,
        "status": record.status.value, "created_at": record.created_at,
        "updated_at": record.updated_at, "last_seq": record.last_seq,
        "parent_run_id": record.parent_run_id, "tags": list(record.tags), "wake_at": record.wake_at,
        "error": record.error, "tokens": record.tokens, "cost_usd": record.cost_usd,
    }  # fmt: skip


def run_detail(record: RunRecord, result: RunResult, events: list[StoredEvent]) -> dict[str, Any]:
    return {
        **run_summary(record),
        "output": result.output,
        "waiting_for": result.waiting_for,
        "model_calls": result.model_calls,
        "tool_calls": result.tool_calls,
        "nodes": node_tree(events),
    }


def node_tree(events: list[StoredEvent]) -> list[dict[str, Any]]:
    """The nodes of a run, nested by path: ``{path, kind, status, started_at, finished_at,
    children}``."""
    nodes: dict[str, dict[str, Any]] = {}
    for stored in events:
        event = stored.event
        if isinstance(event, NodeStarted) and event.path not in nodes:
            nodes[event.path] = {
                "path": event.path, "kind": event.kind, "status": "running",
                "started_at": stored.ts, "finished_at": None, "children": [],
            }  # fmt: skip
        elif isinstance(event, NodeFinished) and event.path in nodes:
            node = nodes[event.path]
            node["status"] = "failed" if event.error is not None else "completed"
            node["finished_at"] = stored.ts
    roots: list[dict[str, Any]] = []
    for path, node in nodes.items():
        parent = _parent(path, nodes)
        (nodes[parent]["children"] if parent else roots).append(node)
    return roots


def _parent(path: str, nodes: dict[str, Any]) -> str | None:
    parts = path.split("/")
    for end in range(len(parts) - 1, 0, -1):
        candidate = "/".join(parts[:end])
        if candidate in nodes:
            return candidate
    return None


def event_json(stored: StoredEvent) -> dict[str, Any]:
    return {
        "seq": stored.seq, "ts": stored.ts, "type": stored.event.type,
        "event": json.loads(encode(stored.event)), "hash": stored.hash,
    }  # fmt: skip


def deployment_json(deployment: Deployment, *, files: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "namespace": deployment.namespace, "name": deployment.name,
        "version": deployment.version, "digest": deployment.digest, "entry": deployment.entry,
        "created_at": deployment.created_at, "created_by": deployment.created_by,
    }  # fmt: skip
    if files:
        out["files"] = sorted(deployment.files)
    return out


def key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id, "namespace": key.namespace, "role": key.role,
        "label": key.label, "created_at": key.created_at, "expires_at": key.expires_at,
        "revoked_at": key.revoked_at, "created_by": key.created_by,
    }  # fmt: skip


def operator_json(entry: OperatorEntry) -> dict[str, Any]:
    action = entry.action
    return {
        "seq": entry.seq, "ts": entry.ts, "principal": action.principal,
        "credential": action.credential, "source": action.source, "action": action.action,
        "namespace": action.namespace, "target": action.target, "detail": dict(action.detail),
        "hash": entry.hash,
    }  # fmt: skip
