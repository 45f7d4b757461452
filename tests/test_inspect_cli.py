"""``podium cost``, ``podium logs [-f]``, ``podium runs --since/--until`` and the cost and
timeline of ``podium show``."""

from __future__ import annotations

import importlib.util
import io
import json
import threading
from pathlib import Path
from types import ModuleType

import anyio
import pytest
from rich.console import Console
from typer.testing import CliRunner

from podium import Runtime
from podium.cli import app as cli_app
from podium.cli import inspect_cmds
from podium.cli.render import Timeline
from podium.events import NodeFinished, NodeStarted, RunStarted
from podium.store import SQLiteStore, StoredEvent

APP = str(Path(__file__).parent / "apps" / "inspect_app.py")


def _app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("inspect_app", APP)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


app = _app()


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    db = str(tmp_path / "p.db")

    def invoke(*args: str) -> tuple[int, str, str]:
        # the runs live in team-a and team-b: these tests read them as an operator ('*')
        result = runner.invoke(cli_app, ["--db", db, *args], env={"PODIUM_NAMESPACE": "*"})
        return result.exit_code, result.stdout, result.stderr

    invoke.db = db  # type: ignore[attr-defined]
    return invoke


def _populate(db: str) -> tuple[str, str]:
    """A research run in team-a and a panel run in team-b, priced with the test table."""

    async def go() -> tuple[str, str]:
        async with SQLiteStore(db) as store:
            first = await Runtime(store, namespace="team-a", prices=app.PRICES).run(app.research, 1)
            second = await Runtime(store, namespace="team-b", prices=app.PRICES).run(app.panel, 2)
            return first.run_id, second.run_id

    return anyio.run(go)


def _run_id(text: str) -> str:
    return next(w for w in text.split() if w.startswith("run_"))


# -- podium cost ----------------------------------------------------------------------------


def test_cost_by_model_and_namespace(cli) -> None:  # type: ignore[no-untyped-def]
    _populate(cli.db)
    code, out, err = cli("cost", "--by", "model", "--namespace", "default")
    assert code == 0, err
    assert "no model calls" in err  # the default namespace has none: tenants are apart
    code, out, err = cli("cost", "--by", "model")  # an operator ('*'): every namespace
    assert code == 0, err
    lines = out.splitlines()
    big = next(line for line in lines if "acme:big" in line)
    assert big.split()[1:6:] == ["│", "2", "│", "4,000", "│"]
    assert "$0.0454" in big
    assert "$0.003" in next(line for line in lines if "acme:small" in line)
    total = next(line for line in lines if "total" in line)
    assert "6,500" in total
    assert "$0.0484" in total
    assert "1 call without a price" in err

    code, out, _ = cli("cost", "--by", "namespace", "--json", "--namespace", "*")
    data = json.loads(out)
    rows = {row["key"]: row for row in data["by"]["namespace"]}
    assert rows["team-a"]["cost_usd"] == pytest.approx(0.0154)
    assert rows["team-b"]["cost_usd"] == pytest.approx(0.033)
    assert rows["team-b"]["unpriced"] == 1
    assert data["total"]["calls"] == 4

    code, out, _ = cli("cost", "--namespace", "team-a", "--by", "agent")
    assert "research/researcher" in out
    assert "$0.0124" in out
    assert "$0.0154" in next(line for line in out.splitlines() if "total" in line)


def test_cost_agents_keep_brackets_and_time_windows(cli) -> None:  # type: ignore[no-untyped-def]
    _populate(cli.db)
    code, out, _ = cli("cost", "--by", "agent", "--since", "1h")
    assert code == 0
    assert "panel[big]" in out
    assert "panel[guess]" in out
    code, out, err = cli("cost", "--until", "2000-01-01")
    assert code == 0
    assert "no model calls" in err
    code, _, err = cli("cost", "--since", "last tuesday")
    assert code == 2
    assert "neither a date" in err


def test_cost_what_if_with_another_price_table(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _populate(cli.db)
    table = {
        "version": "what-if",
        "prices": {"acme:": {"input_per_mtok": 1.0, "output_per_mtok": 1.0}},
    }
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(table))
    code, out, err = cli("cost", "--prices", str(prices), "--json")
    assert code == 0, err
    expected = (1000 + 200 + 2000 + 500 + 3000 + 100 + 500 + 50) / 1e6
    assert json.loads(out)["total"]["cost_usd"] == pytest.approx(expected)
    assert json.loads(out)["total"]["unpriced"] == 0
    code, _, err = cli("cost", "--prices", str(tmp_path / "nope.txt"))
    assert code == 2
    assert "expected a .json or .toml file" in err


# -- podium runs --since/--until --------------------------------------------------------------


def test_runs_time_filters(cli) -> None:  # type: ignore[no-untyped-def]
    run_a, run_b = _populate(cli.db)
    code, out, _ = cli("runs", "--since", "2h")
    assert code == 0
    assert run_a in out
    assert run_b in out
    code, out, err = cli("runs", "--until", "2000-01-01T00:00+01:00")
    assert (code, out, err.strip()) == (0, "", "no runs")
    code, out, err = cli("runs", "--since", "2099-01-01", "--status", "completed")
    assert "no runs" in err
    code, out, _ = cli("runs", "--since", "1d", "--until", "2099-01-01", "-n", "1")
    assert run_b in out
    assert run_a not in out
    assert cli("runs", "--since", "soon")[0] == 2


# -- podium logs ------------------------------------------------------------------------------


def test_logs_prints_every_event_once(cli) -> None:  # type: ignore[no-untyped-def]
    _, run_b = _populate(cli.db)
    code, out, err = cli("logs", run_b)
    assert code == 0, err
    assert "run started" in out
    assert "namespace team-b" in out
    assert "start panel[big] (agent)" in out  # brackets verbatim, not console markup
    assert "ok panel[guess]/model#1  acme:mystery  500+50 tok" in out
    assert "done panel" in out
    assert "run completed" in out
    assert f"run {run_b} completed" in err
    lines = out.splitlines()
    assert [int(line.split()[0]) for line in lines] == list(range(1, len(lines) + 1))
    code, later, _ = cli("logs", run_b, "--from-seq", "3")
    assert later.splitlines() == lines[2:]
    assert cli("logs", "run_nope")[0] == 3


def test_logs_follow_on_a_suspended_run_exits_4(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", f"{APP}:waiter", "--namespace", "default")
    assert code == 4
    run_id = _run_id(err)
    code, out, err = cli("logs", run_id, "-f")
    assert code == 4
    assert "suspended" in out
    assert "waiting for go" in out
    assert f"run {run_id} suspended" in err


def test_logs_follow_a_run_progressing_in_another_thread(
    cli, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    started = threading.Event()
    polled = threading.Event()
    errors: list[BaseException] = []

    def run_in_background() -> None:
        async def go() -> None:
            async with SQLiteStore(cli.db) as store:
                runtime = Runtime(store)
                run_ids.append(await runtime.start(app.slow, None))
                started.set()
                await anyio.to_thread.run_sync(polled.wait, 10)  # logs -f is following
                await runtime.resume(run_ids[0], app.slow)

        try:
            anyio.run(go)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
            started.set()

    real_pause = inspect_cmds._pause
    polls: list[float] = []

    async def pause(seconds: float) -> None:
        polls.append(seconds)
        polled.set()
        await real_pause(seconds)

    monkeypatch.setattr(inspect_cmds, "_pause", pause)
    run_ids: list[str] = []
    worker = threading.Thread(target=run_in_background)
    worker.start()
    assert started.wait(10)
    try:
        code, out, err = cli("logs", run_ids[0], "--follow", "--interval", "0.01")
    finally:
        polled.set()
        worker.join(10)
    assert not errors, errors
    assert code == 0, err
    assert polls[:1] == [0.01]
    assert "run started" in out.splitlines()[0]
    assert sum("slow/tick#" in line for line in out.splitlines()) == 3
    assert "run completed" in out.splitlines()[-1]
    assert f"run {run_ids[0]} completed" in err


def test_logs_follow_interrupted_exits_130(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    async def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    async def pending() -> str:
        async with SQLiteStore(cli.db) as store:
            return await Runtime(store).start(app.slow, None)

    run_id = anyio.run(pending)
    monkeypatch.setattr(inspect_cmds, "_pause", interrupt)
    code, out, err = cli("logs", run_id, "-f")
    assert code == 130
    assert "run started" in out
    assert err.strip() == "interrupted"


# -- podium show: cost per node and the timeline ----------------------------------------------


def test_show_has_cost_per_node_and_a_timeline(cli) -> None:  # type: ignore[no-untyped-def]
    run_a, run_b = _populate(cli.db)
    code, out, err = cli("show", run_a)
    assert code == 0, err
    assert "research (workflow) done  3000+700 tok · $0.0154" in out
    assert "researcher (agent) done  1000+200 tok · $0.0124" in out
    assert "timeline" in out
    code, out, _ = cli("show", run_b)
    assert "panel (parallel) done  3500+150 tok · $0.033 · 1 unpriced" in out
    assert "panel[guess] (agent) done  500+50 tok · 1 unpriced" in out
    rows = _timeline_rows(out)
    assert set(rows) == {"panel", "panel[big]", "panel[guess]"}
    assert rows["panel[big]"] & rows["panel[guess]"]  # parallel branches overlap


def _timeline_rows(out: str) -> dict[str, set[int]]:
    lines = out.split("timeline", 1)[1].splitlines()[1:]
    return {line.split()[0]: {i for i, c in enumerate(line) if c in "█▒"} for line in lines}


def _stored(seq: int, ts: float, event: object) -> StoredEvent:
    return StoredEvent(run_id="run_t", seq=seq, ts=ts, event=event)  # type: ignore[arg-type]


def test_timeline_bars_are_on_the_run_scale() -> None:
    events = [
        _stored(1, 0.0, RunStarted(workflow="wf", input=None)),
        _stored(2, 0.0, NodeStarted(path="wf", kind="sequential")),
        _stored(3, 0.0, NodeStarted(path="wf/p", kind="parallel")),
        _stored(4, 0.0, NodeStarted(path="wf/p[a]", kind="agent")),
        _stored(5, 2.0, NodeStarted(path="wf/p[b]", kind="agent")),
        _stored(6, 4.0, NodeFinished(path="wf/p[a]")),
        _stored(7, 6.0, NodeFinished(path="wf/p[b]")),
        _stored(8, 6.0, NodeFinished(path="wf/p")),
        _stored(9, 6.0, NodeStarted(path="wf/after[x]", kind="function")),
        _stored(10, 8.0, NodeFinished(path="wf/after[x]")),
        _stored(11, 8.0, NodeFinished(path="wf")),
    ]
    text = Timeline(events).render(10 + 40 + 12).plain  # labels 10 wide, bars 40
    lines = text.splitlines()
    assert lines[0] == "timeline  8.00 s"
    bars = {line.split()[0]: line for line in lines[1:]}
    assert list(bars) == ["wf", "p", "p[a]", "p[b]", "after[x]"]  # children under parents
    assert bars["p[a]"].startswith("    p[a]   █")  # indented by depth
    assert bars["p[a]"].split()[1] == "█" * 20 + "·" * 20
    assert bars["p[b]"].split()[1] == "·" * 10 + "█" * 20 + "·" * 10
    assert bars["after[x]"].split()[1] == "·" * 30 + "█" * 10
    assert bars["wf"].split()[1:] == ["█" * 40, "8.00", "s"]
    assert bars["p[b]"].endswith(" 4.00 s")


def test_timeline_of_an_open_node_and_markup_in_names() -> None:
    events = [
        _stored(1, 0.0, NodeStarted(path="wf", kind="workflow")),
        _stored(2, 1.0, NodeStarted(path="wf/team[red]", kind="agent")),
        _stored(3, 2.0, NodeFinished(path="wf/team[red]")),
    ]
    console = Console(record=True, width=60, file=io.StringIO())
    console.print(Timeline(events))
    plain = console.export_text()
    assert "  team[red] " in plain
    assert max(len(line) for line in plain.splitlines()) <= 60
    assert plain.splitlines()[1].endswith(" open")
    assert "▒" in plain.splitlines()[1]
    assert Timeline([]).rows == []
