"""`agent-auth lab host`: loads the explorer once, then forks one session per student login.

A lab session started from scratch spends ~3 s of CPU loading the explorer's modules before
its runtime starts; twenty students logging in at once on two cores wait for all of that.
Here the loading happens once, in a host process started as root (a systemd unit, README
"Demos and labs"). The students' ForceCommand (`agent-auth-lab`, agent_auth/lab_connect.py)
connects to the host's Unix socket and passes its terminal. The host reads who is calling
from the kernel (SO_PEERCRED, not from anything the client says), admits members of the
students' group, and forks. The fork becomes that student before it reads a byte the
client sent: its own session (setsid), the student's groups, gid and uid (it cannot get
root back; that is checked), the account's home and a fresh environment. Then it runs the
explorer exactly as `agent-auth --lab` does, on the student's terminal.

The host stays single-threaded and never starts an event loop, so every fork is clean; it
runs nothing a student sends. Limits: a few sessions per student at once, a cap for the
host, and a deadline for the client's first line.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import gc
import grp
import importlib
import io
import json
import os
import pwd
import signal
import socket
import stat
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from agent_auth.lab_connect import (
    DEFAULT_SOCKET,
    INTERRUPTED,
    MAX_ENTRIES,
    NO_TERMINAL,
    PROTOCOL,
    RESIZED,
    STARTED,
    forwarded,
)
from stack.errors import ExplorerError

#: What a lab session loads (measured: a session started after these loads only its pattern's
#: two files; tests/lab/test_lab_sessions.py keeps it so).
PRELOAD = (
    "agent_auth.cli", "agent_auth.lab", "tui.app", "runtime.runner", "runtime.matrix",
    "runtime.model.app", "openai", "stack.idp.app", "stack.opa", "bm25s", "numpy",
    "httpcore", "httpcore2", "h11", "httptools", "uvicorn.protocols.http.auto",
    "uvicorn.protocols.http.httptools_impl", "uvicorn.lifespan.on", "regopy", "truststore",
    "anyio._backends._asyncio", "textual.drivers.linux_driver", "textual.layouts.factory",
    "textual.layouts.horizontal", "textual.layouts.stream", "textual.scrollbar",
    "pydantic.v1", "rich.logging", "rich._emoji_codes", "fastapi.telemetry._runtime",
    "pygments.styles.monokai",
)
HEADER_MAX = 64 * 1024
FIRST_LINE_DEADLINE = 10.0   # seconds for a client to send its first line
ACCEPT_TICK = 0.5   # the host looks for ended sessions and SIGTERM at least this often
SESSION_NAME = b"lab-session"   # what `ps -o comm` shows for a student's session
PEERCRED = struct.Struct("3i")   # struct ucred: pid, uid, gid
PR_SET_DUMPABLE = 4   # linux/prctl.h


class LabHostError(ExplorerError):
    """The lab host cannot start (not root, no such group, the socket is taken...)."""


class Refused(ExplorerError):
    """A login the host will not serve; the message is what the student reads."""


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str
    shell: str

    @classmethod
    def of(cls, uid: int) -> Account:
        try:
            entry = pwd.getpwuid(uid)
        except KeyError:
            raise Refused(f"uid {uid} has no account on this host") from None
        return cls(entry.pw_name, uid, entry.pw_gid, entry.pw_dir, entry.pw_shell)

    def groups(self) -> list[int]:
        return os.getgrouplist(self.name, self.gid)


@dataclass(frozen=True)
class HostConfig:
    socket: Path = Path(DEFAULT_SOCKET)
    group: str = "students"
    per_student: int = 3
    max_sessions: int = 200


def admit(uid: int, group_id: int, running: Mapping[int, int], config: HostConfig) -> Account:
    """The account behind a connection (`uid` from the kernel), or Refused with the reason.
    `running`: pid -> uid of the sessions alive now."""
    if uid == 0:
        raise Refused("root does not get a lab session from the host")
    account = Account.of(uid)
    if group_id not in account.groups():
        raise Refused(f"{account.name} is not in the group {config.group!r} of this lab")
    if len(running) >= config.max_sessions:
        raise Refused(f"the lab host is full ({config.max_sessions} sessions); try again "
                      "in a minute")
    if sum(1 for owner in running.values() if owner == uid) >= config.per_student:
        raise Refused(f"{account.name} already has {config.per_student} lab sessions open; "
                      "quit one (q) first")
    return account


def parse_header(line: bytes) -> dict[str, str]:
    """The client's first line: the environment it forwards (filtered again here: the
    client is the student's own program and may send anything)."""
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Refused("the lab client sent something that is not JSON") from None
    if not isinstance(message, dict) or message.get("version") != PROTOCOL:
        raise Refused(f"the lab client speaks another protocol (want version {PROTOCOL}); "
                      "its install and the host's differ")
    env = message.get("env")
    if not isinstance(env, dict):
        raise Refused("the lab client sent no environment")
    kept = {k: v for k, v in env.items()
            if isinstance(k, str) and isinstance(v, str) and forwarded(k, v)}
    return dict(sorted(kept.items())[:MAX_ENTRIES])


def session_env(sent: Mapping[str, str], account: Account) -> dict[str, str]:
    """A login's environment: who the student is comes from the account, not the client."""
    return {**sent, "HOME": account.home, "USER": account.name, "LOGNAME": account.name,
            "SHELL": account.shell, "PATH": "/usr/local/bin:/usr/bin:/bin"}


# -- the host -------------------------------------------------------------------------------

def log(text: str) -> None:
    print(f"agent-auth lab host: {text}", file=sys.stderr, flush=True)


def preload() -> None:
    # numpy's OpenBLAS would start a thread pool at import: one thread is what BM25 over a
    # few documents needs, and the host must have no thread when it forks
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    for name in PRELOAD:
        importlib.import_module(name)
    from rich._unicode_data import load

    from runtime import load_sdk, warm_tls

    load_sdk()
    warm_tls()   # ~50 ms of CA bundle per session otherwise
    load("latest")   # the table of character widths every session's first frame needs


def threads() -> int:
    """This process's threads, native ones too (threading counts only Python's)."""
    return len(os.listdir("/proc/self/task"))


def serve(config: HostConfig, explorer: Callable[[], int]) -> int:
    """Serve logins until SIGTERM; `explorer()` is what each session runs once it is the
    student, on the student's terminal (`agent-auth --lab`)."""
    if os.geteuid() != 0:
        raise LabHostError("the lab host forks sessions as each student: run it as root "
                           "(the README's systemd unit does)")
    try:
        group_id = grp.getgrnam(config.group).gr_gid
    except KeyError:
        raise LabHostError(f"no group {config.group!r} on this host (`groupadd "
                           f"{config.group}`, then add the students to it)") from None
    started = time.perf_counter()
    preload()
    if threads() != 1:   # a fork must not copy a thread's half-held locks
        raise LabHostError("a preloaded module started a thread; the host cannot fork safely")
    gc.collect()
    gc.freeze()   # the loaded heap is shared by every session, never scanned again
    gc.enable()   # the host runs for weeks; `agent-auth` starts with the collector paused
    listener = _listen(config, group_id)
    log(f"loaded in {time.perf_counter() - started:.1f} s; serving {config.socket} for group "
        f"{config.group!r}")
    sessions: dict[int, int] = {}   # pid -> uid of the sessions alive
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:   # only a flag: a fork may be under way
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    listener.settimeout(ACCEPT_TICK)
    try:
        while not stopping:
            reap(sessions)
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with contextlib.closing(conn):
                conn.settimeout(None)
                reap(sessions)
                try:
                    _serve_one(listener, conn, group_id, sessions, config, explorer)
                except Exception as exc:   # noqa: BLE001 - one login's problem, not the class's
                    log(f"a login failed: {type(exc).__name__}: {exc}")
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            config.socket.unlink()
        _end_sessions(sessions)
    log("stopped")
    return 0


def _listen(config: HostConfig, group_id: int) -> socket.socket:
    folder = config.socket.parent
    folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    info = folder.lstat()
    if stat.S_ISLNK(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        # anyone else who may write there could swap the socket for a link before the
        # chown below, and have root give the students' group some other file
        raise LabHostError(f"the socket's folder {folder} must be root's and writable by "
                           f"root only ({stat.filemode(info.st_mode)}, uid {info.st_uid})")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(config.socket))
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            config.socket.unlink()   # a host that died left it
    else:
        raise LabHostError(f"another lab host answers on {config.socket}")
    finally:
        probe.close()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o117)   # made 0660: the students' group may connect, nobody else
    try:
        listener.bind(str(config.socket))
    finally:
        os.umask(old)
    os.chown(config.socket, 0, group_id, follow_symlinks=False)
    listener.listen(128)
    return listener


def _serve_one(listener: socket.socket, conn: socket.socket, group_id: int,
               sessions: dict[int, int], config: HostConfig,
               explorer: Callable[[], int]) -> None:
    pid, uid, _ = PEERCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                  PEERCRED.size))
    try:
        account = admit(uid, group_id, sessions, config)
    except Refused as exc:
        log(f"refused pid {pid} (uid {uid}): {exc}")
        with contextlib.suppress(OSError):
            conn.settimeout(1.0)
            conn.sendall(f"refused {exc}\n".encode())
        return
    try:
        child = os.fork()
    except OSError as exc:   # EAGAIN at the unit's TasksMax, ENOMEM: this login only
        log(f"refused {account.name}: fork failed: {exc.strerror or exc}")
        with contextlib.suppress(OSError):
            conn.settimeout(1.0)
            conn.sendall(b"refused the lab host is out of processes or memory; try again "
                         b"in a minute\n")
        return
    if child == 0:
        _session(listener, conn, account, explorer)
    sessions[child] = uid
    log(f"session {child} for {account.name} (client pid {pid})")


def reap(sessions: dict[int, int]) -> None:
    """Collect the sessions that ended (in the loop, not a SIGCHLD handler: `admit` counts
    `sessions` and must not see it change under it)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        uid = sessions.pop(pid, None)
        log(f"session {pid} (uid {uid}) ended: {os.waitstatus_to_exitcode(status)}")


def _end_sessions(sessions: dict[int, int], grace: float = 5.0) -> None:
    """The admin stops the host: every session quits as on SIGTERM (exports removed)."""
    for pid in list(sessions):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while sessions and time.monotonic() < deadline:
        reap(sessions)
        time.sleep(0.05)
    for pid in list(sessions):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# -- a session (the forked child) -------------------------------------------------------------

def become(account: Account) -> None:
    """Drop root for good: the student's groups, gid and uid, in that order."""
    os.setgroups(account.groups())
    os.setresgid(account.gid, account.gid, account.gid)
    os.setresuid(account.uid, account.uid, account.uid)
    if os.getresuid() != (account.uid,) * 3 or os.getresgid() != (account.gid,) * 3:
        raise OSError(errno.EPERM, "the session kept another uid or gid")
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise OSError(errno.EPERM, "the session could become root again")
    _not_dumpable()


def _not_dumpable() -> None:
    """The fork still holds the host's memory, its environment block first (what
    /proc/<pid>/environ shows, whatever os.environ says now): the student may not read it.
    Linux makes a process that changed its uid non-dumpable only when fs.suid_dumpable is
    0; this does it either way (/proc/<pid>/environ, mem, fd then belong to root)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "the session could not be made non-dumpable")


def _session(listener: socket.socket, conn: socket.socket, account: Account,
             explorer: Callable[[], int]) -> NoReturn:
    code = 1
    try:
        listener.close()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()
        with contextlib.suppress(OSError):   # before `become`: then /proc/self is root's
            Path("/proc/self/comm").write_bytes(SESSION_NAME)
        become(account)
        code = _run(conn, account, explorer)
    except Refused as exc:
        with contextlib.suppress(OSError):
            conn.sendall(f"refused {exc}\n".encode())
    except BaseException as exc:   # noqa: BLE001 - the fork must never return into the host
        with contextlib.suppress(BaseException):
            log(f"session for {account.name} failed: {type(exc).__name__}: {exc}")
            conn.sendall(b"refused the lab session could not start; tell the instructor\n")
    os._exit(code)


def _first_line(conn: socket.socket) -> tuple[bytes, list[int]]:
    """The client's header line and the descriptors sent with it (its terminal)."""
    deadline = time.monotonic() + FIRST_LINE_DEADLINE   # for the whole line, not each read
    conn.settimeout(FIRST_LINE_DEADLINE)
    try:
        data, fds, flags, _ = socket.recv_fds(conn, HEADER_MAX, 3)
    except TimeoutError:
        raise Refused(f"the lab client said nothing for {FIRST_LINE_DEADLINE:.0f} s") from None
    if flags & socket.MSG_CTRUNC or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise Refused("the lab client must pass its terminal (stdin, stdout and stderr)")
    try:
        while b"\n" not in data:
            if len(data) >= HEADER_MAX:
                raise Refused("the lab client's first line is too long")
            conn.settimeout(max(0.001, deadline - time.monotonic()))
            more = conn.recv(HEADER_MAX - len(data))
            if not more:
                raise Refused("the lab client hung up before its first line ended")
            data += more
    except TimeoutError:
        for fd in fds:
            os.close(fd)
        raise Refused("the lab client's first line never ended") from None
    except (Refused, OSError):
        for fd in fds:
            os.close(fd)
        raise
    return data.split(b"\n", 1)[0], fds


def _take_terminal(fds: list[int]) -> None:
    """The client's stdin, stdout and stderr become this process's 0, 1 and 2."""
    for fd, target in zip(fds, (0, 1, 2), strict=True):
        os.dup2(fd, target)
        os.close(fd)
    if not (os.isatty(0) and os.isatty(1)):
        raise Refused(NO_TERMINAL)
    streams = {
        "stdin": open(0, encoding="utf-8", closefd=False),  # noqa: SIM115
        "stdout": open(1, "w", encoding="utf-8", closefd=False),  # noqa: SIM115
        "stderr": io.TextIOWrapper(open(2, "wb", buffering=0, closefd=False),  # noqa: SIM115
                                   encoding="utf-8", errors="backslashreplace",
                                   line_buffering=True),
    }
    for name, stream in streams.items():   # Textual's driver uses sys.__stdin__ & co.
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _watch(conn: socket.socket, finished: threading.Event) -> None:
    """The client's later bytes: a resize or a Ctrl-C is signalled to this process; its
    end (the SSH connection dropped) is a hang-up."""
    while True:
        try:
            data = conn.recv(64)
        except OSError:
            data = b""
        if not data:
            if not finished.is_set():
                os.kill(os.getpid(), signal.SIGHUP)
            return
        if finished.is_set():   # the explorer is done: a late Ctrl-C must not cut the exit
            continue
        if RESIZED in data:
            os.kill(os.getpid(), signal.SIGWINCH)
        if INTERRUPTED in data:
            os.kill(os.getpid(), signal.SIGINT)


def _run(conn: socket.socket, account: Account, explorer: Callable[[], int]) -> int:
    line, fds = _first_line(conn)
    try:
        sent = parse_header(line)
    except Refused:
        for fd in fds:
            os.close(fd)
        raise
    _take_terminal(fds)
    os.environ.clear()
    os.environ.update(session_env(sent, account))
    tempfile.tempdir = None   # found again from this environment (TMPDIR)
    try:
        os.chdir(account.home)
    except OSError:
        os.chdir("/")
    os.umask(0o022)
    conn.settimeout(None)
    conn.sendall(STARTED)   # the client stops waiting for an answer: the explorer is coming
    finished = threading.Event()
    threading.Thread(target=_watch, args=(conn, finished), name="lab client",
                     daemon=True).start()
    try:
        code = explorer()
    except KeyboardInterrupt:
        print("\ragent-auth: interrupted, nothing finished", file=sys.stderr)
        code = 130
    finished.set()
    atexit._run_exitfuncs()   # what a process ending normally runs (exports removed...)
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    with contextlib.suppress(OSError):
        conn.sendall(f"exit {code}\n".encode())
    return code
