"""Fail fast and precisely, in a subprocess as a user meets it: a model this environment cannot
call is reported by ``validate`` and refused by ``run`` before a run is recorded; a database
that cannot be reached is one line within seconds; a missing input is an error; ``approve`` on
a finished run says so; the worker logs no HTTP request lines and one line per store outage."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from podium.testing.fake_llm import FakeLLMServer, Reply
from tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow
APPS = Path(__file__).parent / "apps"
ROOT = Path(__file__).parent.parent
KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")
SPEC = """\
version: 1
models:
  smart: openai:gpt-4.1-mini
agents:
  writer:
    model: smart
    instructions: Write a haiku about the input.
  critic:
    model: anthropic:claude-sonnet-4
    instructions: Critique the haiku.
workflow:
  sequential:
    name: pipeline
    steps: [{agent: writer}, {agent: critic}]
"""


def podium(
    *args: str, cwd: Path | None = None, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in KEYS and not k.startswith("PODIUM_")}
    environ.update(env)
    cmd = [sys.executable, "-m", "podium", *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=environ
    )


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(SPEC)
    return path


def test_validate_reports_models_this_environment_cannot_call(spec: Path) -> None:
    checked = podium("validate", "flow.yaml", cwd=spec.parent)
    assert checked.returncode == 2, checked.stderr
    lines = checked.stdout.splitlines()
    assert lines[0].startswith("flow.yaml:3:10: models.smart: no API key for 'openai:gpt-4.1-mini'")
    assert "set OPENAI_API_KEY in the environment" in lines[0]
    assert lines[1].startswith("flow.yaml:9:12: agents.critic.model: no API key")
    assert "ANTHROPIC_API_KEY" in lines[1]
    assert "2 problems" in checked.stderr
    ready = podium(
        "validate", "flow.yaml", cwd=spec.parent,
        OPENAI_API_KEY="sk-test", ANTHROPIC_BASE_URL="http://127.0.0.1:9/",
    )  # fmt: skip
    assert ready.returncode == 0, ready.stdout
    assert podium("validate", "--no-env", "flow.yaml", cwd=spec.parent).returncode == 0
    bad_url = podium(
        "validate", "flow.yaml", cwd=spec.parent,
        OPENAI_API_KEY="sk-test", ANTHROPIC_API_KEY="k", ANTHROPIC_BASE_URL="localhost:9",
    )  # fmt: skip
    assert bad_url.returncode == 2
    assert "ANTHROPIC_BASE_URL='localhost:9' is not a URL" in bad_url.stdout
    as_json = json.loads(podium("validate", "--json", "flow.yaml", cwd=spec.parent).stdout)
    assert [i["path"] for i in as_json["issues"]] == ["models.smart", "agents.critic.model"]


def test_run_refuses_a_model_it_cannot_call_before_recording_a_run(spec: Path) -> None:
    ran = podium("--db", "p.db", "run", "flow.yaml", "-i", "autumn", cwd=spec.parent)
    assert ran.returncode == 2, ran.stderr
    assert "models.smart: no API key for 'openai:gpt-4.1-mini'" in ran.stderr
    last = ran.stderr.strip().splitlines()[-1]
    assert last == (
        "error: flow.yaml: 2 models cannot be called from this environment; no run was started"
    )
    assert not (spec.parent / "p.db").exists()


def test_an_unresolvable_database_is_one_line() -> None:
    ran = podium("--db", "postgresql://podium-no-such-host.invalid/db", "runs", timeout=25)
    assert ran.returncode == 6, ran.stderr
    [line] = ran.stderr.strip().splitlines()
    assert line.startswith("error: cannot connect to PostgreSQL at podium-no-such-host.invalid")


def test_a_database_that_does_not_answer_fails_within_the_connect_timeout() -> None:
    with socket.socket() as silent:  # accepts connections, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        # under the pool's 30 s wait: only the 4 s connect timeout can end it in time
        ran = podium("--db", f"postgresql://127.0.0.1:{port}/db", "runs", timeout=25)
    assert ran.returncode == 6, ran.stderr
    [line] = ran.stderr.strip().splitlines()
    assert (
        line == f"error: cannot connect to PostgreSQL at 127.0.0.1:{port}/db: no answer within 4 s"
    )


def test_a_missing_input_is_an_error(tmp_path: Path) -> None:
    ran = podium("--db", "p.db", "run", f"{APPS / 'simple_app.py'}:calculator", cwd=tmp_path)
    assert ran.returncode == 2, ran.stderr
    [line] = ran.stderr.strip().splitlines()
    assert line.startswith("error: --input is missing: the agents of ")
    assert "-i null" in line
    assert not (tmp_path / "p.db").exists()
    explicit = podium(
        "--db", "p.db", "run", f"{APPS / 'simple_app.py'}:calculator", "-i", "null", "--detach",
        cwd=tmp_path,
    )  # fmt: skip
    assert explicit.returncode == 0, explicit.stderr
    waiter = podium("--db", "p.db", "run", f"{APPS / 'simple_app.py'}:waiter", cwd=tmp_path)
    assert waiter.returncode == 4, waiter.stderr  # a @workflow decides what no input means


def test_approve_on_a_finished_run_says_it_is_finished(tmp_path: Path) -> None:
    db = str(tmp_path / "p.db")
    target = f"{APPS / 'governance_app.py'}:payer"
    started = podium("--db", db, "run", target, "-i", "invoice 17 from ACME Ltd")
    assert started.returncode == 4, started.stderr
    [item] = json.loads(podium("--db", db, "approvals", "--json").stdout)
    approval, run_id = item["approval_id"], item["run_id"]
    decided = podium("--db", db, "approve", approval, "--as", "maria", "--role", "finance")
    assert decided.returncode == 0, decided.stderr
    assert podium("--db", db, "resume", run_id).returncode == 0
    again = podium("--db", db, "approve", approval, "--as", "maria", "--role", "finance")
    assert again.returncode == 2, again.stderr
    [line] = again.stderr.strip().splitlines()
    assert line == (
        f"error: run {run_id} is finished (completed): {approval} was approved by maria "
        "(finance); nothing written"
    )


def test_the_worker_does_not_log_each_http_request(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(
        "version: 1\nagents:\n  writer: {model: 'openai:gpt-test', instructions: Be brief.}\n"
        "workflow: {agent: writer}\n"
    )
    with FakeLLMServer() as server:
        server.script([Reply(text="a haiku")])
        env = {"OPENAI_BASE_URL": server.openai_base_url}
        queued = podium("--db", "p.db", "run", "flow.yaml", "-i", "x", "-d", cwd=tmp_path, **env)
        assert queued.returncode == 0, queued.stderr
        worked = podium("--db", "p.db", "worker", "--until-idle", cwd=tmp_path, **env)
    assert worked.returncode == 0, worked.stderr
    assert "finished 1" in worked.stderr
    assert "completed" in worked.stderr  # the worker's own INFO lines are there
    assert "HTTP Request" not in worked.stderr
    assert "/v1/chat/completions" not in worked.stderr


@pytest.fixture
def proxied_db(postgres_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """A PostgreSQL URL through a proxy that can cut the connection (a database outage)."""
    proxy = TcpProxy(postgres_url).start()
    schema = f"podium_outage_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in proxy.url else "?"
    try:
        yield f"{proxy.url}{sep}schema={schema}", proxy
    finally:
        proxy.stop()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _wait_for(path: Path, pattern: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if re.search(pattern, path.read_text()):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {pattern!r} in:\n{path.read_text()}")


@pytest.mark.postgres
def test_a_database_outage_is_one_line_when_it_starts_and_one_when_it_ends(
    tmp_path: Path, proxied_db: tuple[str, TcpProxy]
) -> None:
    db, proxy = proxied_db
    log = tmp_path / "worker.log"
    cmd = [sys.executable, "-m", "podium", "--db", db, "worker", "--poll", "0.05"]
    with log.open("w") as sink:
        worker = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_for(log, r"worker \S+ · concurrency")
        proxy.cut()  # claims fail; the pool retries to connect, and is refused
        _wait_for(log, "store unavailable")
        proxy.wait_refused(5)  # five more refused attempts, each once a pool warning
        proxy.restore()
        _wait_for(log, "store available again")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    text = log.read_text()
    assert worker.returncode == 0, text
    assert text.count("store unavailable") == 1, text
    assert text.count("store available again") == 1, text
    found = re.search(r"available again after [\d.]+ s \((\d+) failed attempts\)", text)
    assert found, text
    for noise in ("error connecting", "claim failed (retrying)", "Traceback"):
        assert noise not in text, text


def test_install_lines_in_the_docs_work_from_a_clone() -> None:
    """Until the package is published, ``pip install 'podium[x]'`` fails: every install line
    installs the clone (``pip install -e '.[x]'``) with extras that pyproject.toml defines."""
    extras = set(re.findall(r"^(\w+) = \[", (ROOT / "pyproject.toml").read_text(), re.M))
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    lines = [
        (page.name, line)
        for page in pages
        for line in page.read_text(encoding="utf-8").splitlines()
        if "pip install" in line
    ]
    assert lines
    for page, line in lines:
        for command in re.findall(r"pip install ([^`;&|)]*)", line):
            if command.startswith("-U"):
                assert "podium" not in command, (page, line)  # another package: fine
                continue
            assert command.startswith(("-e .", "-e '.[")), (page, line)
            for wanted in re.findall(r"\.\[([\w,]+)\]", command):
                assert set(wanted.split(",")) <= extras, (page, line)
