"""OIDC bearer tokens from a REAL provider: npm `oidc-provider` 9 on loopback (tests/interop/oidc,
installed by `npm ci` there), client credentials, JWT access tokens; `podium serve` as a real
process verifying them against the provider's JWKS."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from server_kit import APPS, ROOT, auth, free_port, podium, server

pytestmark = pytest.mark.slow
FOLDER = ROOT / "tests" / "interop" / "oidc"
AUDIENCE = "https://podium.test"
SECRET = "client-secret-0123456789-abcdefghij"
CLIENTS = [
    {"client_id": "svc-operator", "client_secret": SECRET, "roles": ["team-a:operator"]},
    {"client_id": "svc-viewer", "client_secret": SECRET, "roles": ["team-a:viewer"]},
    {"client_id": "svc-other", "client_secret": SECRET, "roles": ["team-b:admin"]},
    {"client_id": "svc-short", "client_secret": SECRET, "roles": ["team-a:admin"], "ttl": 1},
]


def _node_ready() -> None:
    if shutil.which("node") is None or not (FOLDER / "node_modules" / "oidc-provider").is_dir():
        message = "oidc-provider not installed: run `npm ci` in tests/interop/oidc"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def provider(tmp: Path, port: int, kid: str) -> Iterator[str]:
    _node_ready()
    config = tmp / f"oidc-{kid}.json"
    config.write_text(json.dumps({
        "port": port, "kid": kid, "clients": CLIENTS,
        "resources": [AUDIENCE, "https://elsewhere.test"],
    }))  # fmt: skip
    proc = subprocess.Popen(
        ["node", "provider.js", str(config)], cwd=FOLDER, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("ready "), line
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def token(issuer: str, client: str, resource: str = AUDIENCE) -> str:
    response = httpx.post(
        f"{issuer}/token",
        data={
            "grant_type": "client_credentials", "client_id": client, "client_secret": SECRET,
            "resource": resource, "scope": "podium",
        },
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _start(url: str, bearer: str) -> httpx.Response:
    body = {"namespace": "team-a", "deployment": "pay", "input": "invoice"}
    return httpx.post(f"{url}/v1/runs", json=body, headers=auth(bearer))


def test_oidc_tokens_from_a_real_provider(tmp_path: Path) -> None:
    db = str(tmp_path / "podium.db")
    assert podium(db, "deploy", f"{APPS}/payments.py:payer", "--name", "pay", "-n", "team-a")
    port = free_port()
    env = {
        "PODIUM_OIDC_ISSUER": f"http://127.0.0.1:{port}", "PODIUM_OIDC_AUDIENCE": AUDIENCE,
        "PODIUM_OIDC_LEEWAY": "0",
    }  # fmt: skip
    with provider(tmp_path, port, "key-1") as issuer, server(db, tmp_path, env=env) as url:
        operator = token(issuer, "svc-operator")
        started = _start(url, operator)
        assert started.status_code == 201, started.text
        run_id = started.json()["run_id"]
        seen = httpx.get(f"{url}/v1/runs/{run_id}", headers=auth(operator)).json()
        assert seen["run_id"] == run_id
        log = httpx.get(f"{url}/v1/runs", headers=auth(operator)).json()
        assert [r["run_id"] for r in log["runs"]] == [run_id]

        viewer = token(issuer, "svc-viewer")
        assert httpx.get(f"{url}/v1/runs/{run_id}", headers=auth(viewer)).status_code == 200
        assert _start(url, viewer).status_code == 403
        other = token(issuer, "svc-other")  # admin of team-b only
        assert httpx.get(f"{url}/v1/runs/{run_id}", headers=auth(other)).status_code == 404
        assert httpx.get(f"{url}/v1/runs", headers=auth(other)).json()["runs"] == []

        wrong_audience = token(issuer, "svc-operator", "https://elsewhere.test")
        refused = _start(url, wrong_audience)
        assert refused.status_code == 401
        assert "audience" in refused.json()["detail"].lower()
        short = token(issuer, "svc-short")
        assert httpx.get(f"{url}/v1/runs", headers=auth(short)).status_code == 200
        time.sleep(1.5)
        expired = httpx.get(f"{url}/v1/runs", headers=auth(short))
        assert expired.status_code == 401
        assert "expired" in expired.json()["detail"].lower()
        claims: dict[str, Any] = jwt.decode(operator, options={"verify_signature": False})
        unsigned = jwt.encode(claims, None, algorithm="none")  # alg none: never accepted
        assert _start(url, unsigned).status_code == 401
        forged = jwt.encode(
            claims,
            "a-guessed-shared-secret-of-32-bytes!",
            algorithm="HS256",
            headers={"kid": "key-1"},
        )
        assert _start(url, forged).status_code == 401
        tampered = operator[:-4] + ("AAAA" if not operator.endswith("AAAA") else "BBBB")
        assert _start(url, tampered).status_code == 401
        old = operator

    # the provider restarts with a new signing key: the server fetches the JWKS again
    with provider(tmp_path, port, "key-2") as issuer, server(db, tmp_path, env=env) as url:
        rotated = token(issuer, "svc-operator")
        assert jwt.get_unverified_header(rotated)["kid"] == "key-2"
        assert _start(url, rotated).status_code == 201
        assert _start(url, old).status_code == 401  # its key left the JWKS


def test_jwks_is_refetched_on_an_unknown_kid_by_a_running_server(tmp_path: Path) -> None:
    db = str(tmp_path / "podium.db")
    assert podium(db, "deploy", f"{APPS}/payments.py:payer", "--name", "pay", "-n", "team-a")
    port = free_port()
    env = {
        "PODIUM_OIDC_ISSUER": f"http://127.0.0.1:{port}", "PODIUM_OIDC_AUDIENCE": AUDIENCE,
        "PODIUM_OIDC_REFETCH_COOLDOWN": "0",
    }  # fmt: skip
    with server(db, tmp_path, env=env) as url:
        with provider(tmp_path, port, "key-1") as issuer:
            assert _start(url, token(issuer, "svc-operator")).status_code == 201
        with provider(tmp_path, port, "key-2") as issuer:  # rotated while the server runs
            assert _start(url, token(issuer, "svc-operator")).status_code == 201
