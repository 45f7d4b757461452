"""Roles from an OIDC claim and from the role table (no network)."""

from __future__ import annotations

import pytest

from podium.errors import UserError
from podium.server.oidc import from_env, roles_from
from podium.service import Caller


def test_roles_claim_shapes() -> None:
    assert roles_from({"team-a": "operator", "team-b": "viewer"}) == {
        "team-a": "operator", "team-b": "viewer",
    }  # fmt: skip
    assert roles_from(["team-a:approver", "x:y:admin"]) == {"team-a": "approver"}
    assert roles_from("team-a:viewer team-b:admin") == {"team-a": "viewer", "team-b": "admin"}
    assert roles_from(["team-a:root", "bad name:admin", "*:admin", 7]) == {}
    assert roles_from(None) == {}


def test_role_grants() -> None:
    caller = Caller(name="c", credential="k", source="s", roles={"a": "approver", "b": "viewer"})
    assert caller.can("a", "decide")
    assert not caller.can("a", "operate")
    assert caller.can("b", "read")
    assert not caller.can("b", "decide")
    assert not caller.can("c", "read")
    assert caller.namespaces() == ["a", "b"]
    assert caller.principal("a").roles == frozenset({"approver"})


def test_oidc_needs_issuer_and_audience(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PODIUM_OIDC_ISSUER", raising=False)
    assert from_env() is None
    monkeypatch.setenv("PODIUM_OIDC_ISSUER", "https://issuer.test")
    monkeypatch.delenv("PODIUM_OIDC_AUDIENCE", raising=False)
    with pytest.raises(UserError, match="pin both"):
        from_env()
