"""The runtime behind the explorer: what a switch, a reset or quitting costs and leaves."""

from __future__ import annotations

import gc

import pytest
from tui_helpers import main_screen, send_prompt, settle


async def test_quitting_during_the_script_run_closes_its_servers(make_app, recwarn):
    # what earlier tests left for the collector would warn during this test's collection
    # below and be blamed on it: collect it first, and count only what this quit leaves
    gc.collect()
    recwarn.clear()
    app = make_app(patterns=("p01", "p02", "p03"))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_until_ready()
        main_screen(app).action_run_script()
        board = app.get_screen("scoreboard")
        for _ in range(300):
            if board.done >= 2:  # type: ignore[attr-defined]
                break
            await pilot.pause(0.05)
        assert board.running  # type: ignore[attr-defined]
    gc.collect()
    leaked = [w for w in recwarn if issubclass(w.category, ResourceWarning)]
    assert not leaked, [str(w.message) for w in leaked]


async def test_demo_wire_times_are_the_frozen_clock_of_the_tokens(make_app):
    from runtime.settings import DEMO_EPOCH

    app = make_app(patterns=("p05",))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        hops = app.explorer.hops["p05"]
        assert {h.started_at for h in hops} == {DEMO_EPOCH}
        assert {t.claims["iat"] for h in hops for t in h.tokens if "iat" in t.claims} == {
            int(DEMO_EPOCH)}


async def _hop_counts(pilot, app) -> dict[str, int]:
    await settle(pilot, app)
    await pilot.pause(0.3)   # the user pane's login, if any, runs after the switch settles
    await settle(pilot, app)
    return {p: len(h) for p, h in app.explorer.hops.items()}


async def test_switching_back_and_forth_does_not_log_in_again(make_app):
    app = make_app(patterns=("p01", "p05"))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_until_ready()
        await pilot.press("n")            # p05: alice logs in through the MCP flow, once
        first = await _hop_counts(pilot, app)
        assert first["p01"] and first["p05"]
        await pilot.press("p", "n", "p", "n")
        assert await _hop_counts(pilot, app) == first
        await pilot.press("u", "u", "u")  # bob and dave log in once under p05 ...
        all_in = await _hop_counts(pilot, app)
        assert all_in["p05"] > first["p05"] and all_in["p01"] == first["p01"]
        await pilot.press("p", "u", "u", "u", "n", "u", "u", "u", "p")   # ... and not again
        assert (await _hop_counts(pilot, app))["p05"] == all_in["p05"]
        logins = [h for hops in app.explorer.hops.values() for h in hops if h.target == "idp"]
        for hop in logins:  # the user's browser and the chat client log in, not the MCP server
            if "/openid-connect/auth" in hop.url or "/login-actions/" in hop.url:
                assert hop.source == "browser"
            if hop.summary == "token authorization_code":
                assert hop.source == "agent"
        assert sum(h.source == "browser" for h in logins) == 2 * 6   # 3 users, 2 patterns


async def test_closing_while_a_pattern_starts_stops_what_it_started(demo_settings):
    """Quitting as a pattern comes up (the explorer's first seconds, or a switch): the
    runner being started is cancelled and stops its servers; none is left serving, which
    on uvloop also kept the runtime loop from closing."""
    import asyncio

    from stack.asgi_server import _PromptServer
    from tui.session import ExplorerSession

    def serving() -> list[asyncio.Task]:
        return [t for t in asyncio.all_tasks() if not t.done()
                and getattr(t.get_coro(), "__qualname__", "") == _PromptServer.serve.__qualname__]

    session = ExplorerSession(demo_settings, on_hop=lambda hop: None)
    switching = asyncio.create_task(session.select("p04"))
    for _ in range(5000):               # until the runner's own servers are coming up
        runner_started = len(serving()) > 2      # past the IdP and OPA
        if runner_started:
            break
        await asyncio.sleep(0.001)
    assert runner_started, "the pattern never started"
    await session.close()
    results = await asyncio.gather(switching, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert session.runner is None and not serving()


@pytest.mark.parametrize("after", [0.0, 0.1, 0.3])
async def test_quitting_at_any_moment_of_the_start_leaves_nothing_open(make_app, after,
                                                                        recwarn):
    """The user quits while the runtime comes up. Leaving a server or connection open made
    uvloop refuse to close the runtime's loop (EBUSY, seen under a busy CPU)."""
    gc.collect()                        # earlier tests' garbage is not this quit's
    recwarn.clear()
    app = make_app(patterns=("p03", "p04"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(after)
    gc.collect()                        # an unclosed transport warns as it is collected
    leaked = [w for w in recwarn if issubclass(w.category, ResourceWarning)]
    assert not leaked, [str(w.message) for w in leaked]
    assert not app.explorer.bridge._thread.is_alive()


# A long script run: every other pattern in a second process (runtime.script_worker)

FOUR = ["p01", "p02", "p03", "p04"]


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _run_script(settings, patterns=FOUR):
    """The script over `patterns` in a session of its own, closed after."""
    import asyncio

    from tui.session import ExplorerSession, ScriptRun

    session = ExplorerSession(settings, on_hop=lambda hop: None)
    run, seen, done = ScriptRun(list(patterns)), [], []
    try:   # a task of its own, as the explorer runs it (closing cancels a run going on)
        await asyncio.create_task(session.run_script(
            run, lambda p, s, cell: seen.append((p, s)), lambda p, _run: done.append(p)))
    finally:
        await session.close()
    return run, seen, done


def _check_complete(run, seen, done, patterns=FOUR):
    from runtime import STEP_IDS

    assert not run.errors
    assert sorted(done) == sorted(patterns)
    assert sorted(seen) == sorted((p, s) for p in patterns for s in STEP_IDS)
    assert len(run.cells) == len(patterns) * len(STEP_IDS)
    assert all(c.ok for c in run.cells.values())
    for cell in run.cells.values():      # every cell drills down to the hops that decided it
        hops = run.hops_for(cell)
        assert hops and {h.trace_id for h in hops} <= set(cell.result.trace_ids), cell


async def test_a_long_script_run_gives_every_other_pattern_to_a_second_process(demo_settings):
    run, seen, done = await _run_script(demo_settings)
    assert run.elsewhere == ["p02", "p04"] and run.worker_pid is not None
    _check_complete(run, seen, done)
    assert run.columns["p04"]["tool sees real user"] == "yes (string)"
    assert not _alive(run.worker_pid)


async def test_a_worker_that_dies_leaves_its_patterns_to_this_process(demo_settings,
                                                                       monkeypatch):
    from runtime.script_worker import ScriptWorker

    frames = ScriptWorker.frames

    async def dies_after_one(self):
        async for frame in frames(self):
            yield frame
            self.process.kill()           # as the OOM killer would

    monkeypatch.setattr(ScriptWorker, "frames", dies_after_one)
    run, seen, done = await _run_script(demo_settings)
    assert run.elsewhere == ["p02", "p04"]
    assert seen.count(("p02", "L1")) == 2    # measured there first, then here again
    _check_complete(run, list(dict.fromkeys(seen)), done)


async def test_without_a_second_process_the_run_stays_here(demo_settings, monkeypatch):
    from runtime.script_worker import ScriptWorker
    from tui.session import ExplorerSession

    async def cannot_start(*_args):
        raise OSError("no more processes")

    monkeypatch.setattr(ScriptWorker, "start", cannot_start)
    run, seen, done = await _run_script(demo_settings)
    assert run.elsewhere == [] and run.worker_pid is None
    _check_complete(run, seen, done)
    lab = ExplorerSession(demo_settings.with_(lab=True), on_hop=lambda hop: None)
    assert not lab._wants_worker(run)     # a lab host: one process per student


async def test_quitting_during_a_long_run_stops_the_worker(demo_settings):
    import asyncio

    from tui.session import ExplorerSession, ScriptRun

    session = ExplorerSession(demo_settings, on_hop=lambda hop: None)
    run, seen = ScriptRun(list(FOUR)), []
    task = asyncio.create_task(session.run_script(run, lambda p, s, c: seen.append(p),
                                                  lambda p, r: None))
    for _ in range(3000):                 # until the worker has measured something
        if "p02" in seen:
            break
        await asyncio.sleep(0.01)
    assert "p02" in seen and run.worker_pid is not None
    await session.close()
    assert isinstance((await asyncio.gather(task, return_exceptions=True))[0],
                      asyncio.CancelledError)
    assert not _alive(run.worker_pid)
