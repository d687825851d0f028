"""ExplorerSession: the runtime side of one explorer window (runs on the bridge's loop).

One shared `StackHandle` (IdP + OPA, started once), one `WireTap` per pattern (so each
pattern keeps its own wire history across switches) and one live `PatternRunner` at a time.
A pattern switch stops the old runner in the background while the new one starts. A lock
serialises everything that touches the runners (prompt, step, script run, switch), so a
script run never shares the stack's clock with a prompt in flight.

Every coroutine here must run on the bridge loop; `on_hop(pattern_id, hop)` is called on
that loop's thread for each captured hop and must stay cheap. The heavy runtime modules
(agent, MCP, OpenAI SDK, FastAPI: about a second of imports) load on first use, which is
`start()` on the runtime thread, so the UI paints its first frame without waiting for them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime import (
    DecodedToken,
    ExplorerError,
    Hop,
    KeySource,
    PatternInfo,
    Redactor,
    Settings,
    WireTap,
    decode_unverified,
)

if TYPE_CHECKING:
    from runtime import (
        Cell,
        Comparison,
        HttpRequest,
        LoginCache,
        PatternRunner,
        Progress,
        ProgressFn,
        ReplayResult,
        ScriptWorker,
        Signer,
        StackHandle,
        StepResult,
        ToolSchema,
        TurnResult,
        World,
    )

#: A script run over this many patterns or more gives half of them to a second process.
WORKER_FROM = 4

HopSink = Callable[[str, Hop], None]
SolvedSink = Callable[[str, str, str], None]   # (challenge id, pattern, what proved it)


def runtime_errors() -> tuple[type[BaseException], ...]:
    """What a failed runtime call may raise; the UI shows the message and carries on: the
    explorer's own errors, and the operating system's (a port, a file)."""
    return (ExplorerError, OSError)


@dataclass(frozen=True)
class Person:
    """One of Acme's users as the live world has them now (a prompt can change a role)."""

    name: str
    role: str
    department: str
    reports_to: str | None
    manages: tuple[str, ...]
    disabled: bool


@dataclass(frozen=True)
class UserInfo:
    """What the User pane shows: who the user is now, everyone's current role, and the
    credential this pattern uses for them."""

    user: str
    pattern: str
    people: tuple[Person, ...]
    api_key: str
    user_credential: str
    token: DecodedToken | None
    token_error: str = ""

    @property
    def person(self) -> Person:
        return next(p for p in self.people if p.name == self.user)


def people_of(world: World) -> tuple[Person, ...]:
    users = world.users.values()
    return tuple(Person(u.username, u.role, u.department, u.reports_to,
                        tuple(o.username for o in users if o.reports_to == u.username),
                        u.disabled) for u in users)


@dataclass(frozen=True)
class ReplayKit:
    signer: Signer
    targets: dict[str, str]     # party (records, directory, idp, ...) -> its base URL


@dataclass(frozen=True)
class ToolForm:
    schemas: list[ToolSchema]
    api_key: str
    passes_key: bool    # the pattern has the model pass the user's key as `api_key`


@dataclass
class ScriptRun:
    """The script over several patterns, each on its own tap so cells drill down to hops."""

    patterns: list[str]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    taps: dict[str, WireTap] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    elsewhere: list[str] = field(default_factory=list)   # given to a second process
    worker_pid: int | None = None

    def hops_for(self, cell: Cell) -> list[Hop]:
        tap = self.taps.get(cell.pattern)
        wanted = set(cell.result.trace_ids)
        return [h for h in tap.hops if h.trace_id in wanted] if tap else []


class ExplorerSession:
    def __init__(self, settings: Settings, on_hop: HopSink,
                 patterns: list[PatternInfo] | None = None, *,
                 progress: Progress | None = None,
                 on_solved: SolvedSink | None = None) -> None:
        self.settings = settings
        self.progress, self._on_solved = progress, on_solved
        self.patterns = {p.id: p for p in patterns or []}
        self.clock = settings.new_clock()
        self._stack: StackHandle | None = None
        self.taps: dict[str, WireTap] = {}
        # Users' tokens per pattern, kept across that pattern's runners: a switch restarts
        # the runner, and logging everyone in again would add hops nobody asked for.
        self._logins: dict[str, LoginCache] = {}
        self.runner: PatternRunner | None = None
        self._on_hop = on_hop
        self._wanted = ""
        self._lock: asyncio.Lock | None = None
        self._stopping: set[asyncio.Task[None]] = set()
        self._starting: asyncio.Future[PatternRunner] | None = None
        self._script: asyncio.Task[ScriptRun] | None = None

    @property
    def lock(self) -> asyncio.Lock:
        if self._lock is None:  # created on the bridge loop, where it is used
            self._lock = asyncio.Lock()
        return self._lock

    def _redactor(self) -> Redactor:
        return Redactor((self.settings.openai_api_key or "",))

    def _new_tap(self) -> WireTap:
        """Hops stamped by the session's clock, the one the tokens' iat and exp come from."""
        return WireTap(self._redactor(), clock=self.clock.now)

    def tap_for(self, pattern_id: str) -> WireTap:
        if pattern_id not in self.taps:
            tap = self._new_tap()
            tap.subscribe(lambda hop: self._on_hop(pattern_id, hop))
            self.taps[pattern_id] = tap
        return self.taps[pattern_id]

    def _info(self, pattern_id: str) -> PatternInfo | str:
        """The explorer's own PatternInfo when it has one (the runner finds ids otherwise)."""
        return self.patterns.get(pattern_id, pattern_id)

    def _keys(self) -> KeySource:
        return KeySource(fixed=self.settings.demo)

    @property
    def stack(self) -> StackHandle:
        if self._stack is None:
            from runtime import StackHandle

            self._stack = StackHandle(self.settings, clock=self.clock)
        return self._stack

    async def start(self) -> None:
        # load the heavy runtime here, off the UI thread
        from runtime import PatternRunner, run_matrix  # noqa: F401

        await self.stack.start()

    async def warm_up(self) -> None:
        """Load the model's SDK (~0.3 s, needed from the first prompt on) on a worker thread,
        so the runtime's loop keeps serving while it loads."""
        from runtime import load_sdk

        await asyncio.to_thread(load_sdk)

    async def _ready(self, pattern_id: str) -> PatternRunner:
        """The started runner for `pattern_id` (caller holds the lock)."""
        if self.runner is not None and self.runner.id == pattern_id:
            return self.runner
        old, self.runner = self.runner, None
        if old is not None:
            task = asyncio.create_task(old.stop())
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        from runtime import PatternRunner

        runner = PatternRunner(self._info(pattern_id), settings=self.settings,
                               stack=self.stack, tap=self.tap_for(pattern_id), keys=self._keys(),
                               logins=self._logins.setdefault(pattern_id, {}), inbound=True)
        # its own task, so close() can cancel a start in flight (the runner then stops what
        # it started); cancelling this caller cancels it too
        self._starting = asyncio.ensure_future(runner.start())
        try:
            await self._starting
        finally:
            self._starting = None
        self.runner = runner
        return runner

    async def select(self, pattern_id: str) -> PatternRunner | None:
        """Make `pattern_id` the live pattern; None when a newer selection superseded it."""
        self._wanted = pattern_id
        async with self.lock:
            if self._wanted != pattern_id:
                return None
            return await self._ready(pattern_id)

    async def prompt(self, pattern_id: str, user: str, text: str) -> TurnResult:
        async with self.lock:
            runner = await self._ready(pattern_id)
            turn = await runner.run_as(user, text)
            await self._judge(runner, turn.trace_id)
            return turn

    async def _judge(self, runner: PatternRunner, trace_id: str) -> None:
        """Mark the challenges this action of the student's solved (a script step is never
        judged: it is not theirs)."""
        if self.progress is None:
            return
        from runtime import judge

        for found in await judge(runner, trace_id, self.progress):
            if found.new and self._on_solved is not None:
                self._on_solved(found.challenge.id, found.pattern, found.proof)

    async def step(self, pattern_id: str, step_id: str) -> StepResult:
        async with self.lock:
            runner = await self._ready(pattern_id)
            return await runner.run_step(step_id)

    async def user_info(self, pattern_id: str, user: str) -> UserInfo | None:
        """None when another pattern was selected meanwhile (never switches back for this)."""
        async with self.lock:
            if self._wanted and pattern_id != self._wanted:
                return None
            runner = await self._ready(pattern_id)
            name = runner.check_user(user)
            token, problem = None, ""
            failures: tuple[type[BaseException], ...] = (*runtime_errors(), KeyError)
            try:
                token = decode_unverified(await runner.login(name))
            except failures as exc:
                problem = str(exc)
            try:
                key = runner.world.key_for(name)
            except KeyError:  # a world without a key for them (a pattern's own seed)
                key = "(none)"
            return UserInfo(name, pattern_id, people_of(runner.world), key,
                            runner.loaded.mcp.user_credential, token, problem)

    # -- hands on -----------------------------------------------------------------------

    async def replay(self, pattern_id: str, request: HttpRequest, notes: list[str],
                     later: float = 0.0, oracle: bool = False) -> ReplayResult:
        """Resend `request` under the live runner (to its current server for the party the
        request went to: a hop from before a pattern switch had other ports)."""
        from runtime import retarget

        async with self.lock:
            runner = await self._ready(pattern_id)
            request, moved = retarget(request, runner.endpoints)
            result = await runner.replay(request, [*moved, *notes], later=later,
                                         oracle=oracle)
            await self._judge(runner, result.trace_id)
            return result

    async def replay_kit(self, pattern_id: str) -> ReplayKit:
        """What the replay editor needs from the live runner: its keys, and where each
        party of the run listens (to send a hop elsewhere)."""
        async with self.lock:
            runner = await self._ready(pattern_id)
            return ReplayKit(runner.signer(), {e.name: e.prefix
                                               for e in runner.endpoints.endpoints})

    async def tool_form(self, pattern_id: str, user: str) -> ToolForm:
        """What the tool-call form needs: the schemas, and the user's key where the pattern
        has the model pass it (no login: the call logs in if the pattern needs it)."""
        async with self.lock:
            runner = await self._ready(pattern_id)
            name = runner.check_user(user)
            return ToolForm(await runner.tool_schemas(), runner.world.key_for(name),
                            runner.loaded.mcp.user_credential == "api_key_argument")

    async def connection(self, pattern_id: str, user: str, fresh: bool = False) -> str:
        """How a client of your own reaches the live pattern's MCP server as `user`: its URLs,
        what to send (logged in as the agent would be; `fresh` logs in again) and commands."""
        from runtime import client_credentials, describe_connection

        async with self.lock:
            runner = await self._ready(pattern_id)
            found = await client_credentials(runner, user, fresh=fresh)
            return describe_connection(
                runner, user, found,
                heading=f"{runner.id} {runner.loaded.info.title}, as {user}: the explorer's "
                        f"own MCP server, for a client of yours (the MCP Inspector, curl, your "
                        f"code) while the explorer runs.",
                closing="Your client's requests appear in the Wire pane as client → "
                        "mcp-server, with what they cause (f: fresh credentials).")

    async def call_tool(self, pattern_id: str, user: str, tool: str,
                        arguments: dict[str, Any]) -> TurnResult:
        async with self.lock:
            runner = await self._ready(pattern_id)
            turn = await runner.call_tool(user, tool, arguments)
            await self._judge(runner, turn.trace_id)
            return turn

    async def compare(self, patterns: tuple[str, str], user: str, prompt: str | None,
                      step: str | None) -> Comparison:
        """The prompt or step under both patterns, each on a runner and tap of its own (the
        live pattern's wire stays as it was)."""
        from runtime import PatternRunner, compare_with

        def runner(pattern_id: str) -> PatternRunner:
            return PatternRunner(self._info(pattern_id), settings=self.settings,
                                 stack=self.stack, tap=WireTap(self._redactor()),
                                 keys=self._keys())

        async with self.lock:
            return await compare_with(runner, patterns, user=user, prompt=prompt, step=step)

    async def reset(self, pattern_id: str) -> None:
        """The live pattern's world as at start: seed data, keys, caches, logins, clock."""
        async with self.lock:
            runner = await self._ready(pattern_id)
            runner.reset()

    async def run_script(self, run: ScriptRun, progress: ProgressFn,
                         on_pattern_done: Callable[[str, ScriptRun], None]) -> ScriptRun:
        """Fill `run` pattern by pattern; callbacks are called on the runtime thread. A long
        run gives every other pattern to a second process (`runtime.script_worker`): this
        one's thread shares its core with the UI, the other core was idle."""
        self._script = asyncio.current_task()
        async with self.lock:
            worker, remote, reading = None, run.patterns[1::2], None
            if self._wants_worker(run):
                from runtime import ScriptWorker

                try:
                    worker = await ScriptWorker.start(self.settings,
                                                      [self._info(p) for p in remote])
                except runtime_errors():
                    worker = None      # no second process: all of it here, as before
                else:
                    run.elsewhere, run.worker_pid = list(remote), worker.process.pid
            try:
                if worker is not None:
                    reading = asyncio.ensure_future(
                        self._read_worker(worker, remote, run, progress, on_pattern_done))
                for pattern_id in run.patterns if worker is None else run.patterns[0::2]:
                    await self._run_pattern(pattern_id, run, progress, on_pattern_done)
                # what the worker could not run (it failed, or was killed) runs here
                for pattern_id in await reading if reading is not None else []:
                    await self._run_pattern(pattern_id, run, progress, on_pattern_done)
            finally:
                if reading is not None:
                    reading.cancel()
                if worker is not None:
                    await worker.stop()
        return run

    def _wants_worker(self, run: ScriptRun) -> bool:
        """A second process pays for its start (~1 s of imports, on the other core) from a
        few patterns on; a lab host keeps one process per student (memory)."""
        return (len(run.patterns) >= WORKER_FROM and (os.cpu_count() or 1) > 1
                and not self.settings.lab)

    async def _run_pattern(self, pattern_id: str, run: ScriptRun, progress: ProgressFn,
                           on_pattern_done: Callable[[str, ScriptRun], None]) -> None:
        from runtime import PatternRunner, run_pattern

        tap = self._new_tap()
        run.taps[pattern_id] = tap
        try:
            runner = PatternRunner(self._info(pattern_id), settings=self.settings,
                                   stack=self.stack, tap=tap, keys=self._keys())
            async with runner:
                cells, columns = await run_pattern(runner, progress=progress)
        except runtime_errors() as exc:
            run.errors[pattern_id] = str(exc)
        else:
            run.cells.update({(c.step, c.pattern): c for c in cells})
            run.columns[pattern_id] = columns
        on_pattern_done(pattern_id, run)

    async def _read_worker(self, worker: ScriptWorker, patterns: list[str], run: ScriptRun,
                           progress: ProgressFn,
                           on_pattern_done: Callable[[str, ScriptRun], None]) -> list[str]:
        """Take in what the worker measures, as the local patterns do; the patterns it did
        not finish, in order."""
        from runtime import CellDone

        left = list(patterns)
        measured: dict[str, list[Cell]] = {}
        async for frame in worker.frames():
            pattern_id = frame.cell.pattern if isinstance(frame, CellDone) else frame.pattern_id
            if pattern_id not in left:
                continue
            run.taps.setdefault(pattern_id, self._new_tap()).hops.extend(frame.hops)
            if isinstance(frame, CellDone):
                measured.setdefault(pattern_id, []).append(frame.cell)
                progress(pattern_id, frame.cell.step, frame.cell)
                continue
            if frame.error:
                run.errors[pattern_id] = frame.error
            else:
                run.cells.update({(c.step, c.pattern): c for c in measured.get(pattern_id, [])})
                run.columns[pattern_id] = frame.columns
            left.remove(pattern_id)
            on_pattern_done(pattern_id, run)
        return left     # measured there, but never finished: measured again here

    async def close(self) -> None:
        # A script run still going owns a runner, and a pattern may be starting: cancel them
        # here, while the loop runs, so each runner stops the servers it started.
        for work in (self._script, self._starting):
            if work is not None and not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        # Every server stops at once: each takes uvicorn's ~0.1-0.2 s, and quitting waits.
        stops = [*self._stopping]
        if self.runner is not None:
            stops.append(asyncio.ensure_future(self.runner.stop()))
            self.runner = None
        if self._stack is not None:
            stops.append(asyncio.ensure_future(self._stack.stop()))
        await asyncio.gather(*stops, return_exceptions=True)
