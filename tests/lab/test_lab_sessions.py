"""The lab host's parts that need no sshd: who it admits, what it keeps of a client's
line, the ForceCommand's side, the doctor's view of the host, and what a fork must not
share. (The whole path, over a real OpenSSH login, is in test_lab_ssh.py.)"""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agent_auth import lab, lab_connect
from agent_auth.cli import main
from agent_auth.lab_sessions import (
    Account,
    HostConfig,
    Refused,
    admit,
    parse_header,
    session_env,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = HostConfig(group="students", per_student=3, max_sessions=5)


@pytest.fixture
def nobody() -> Account:
    try:
        return Account.of(pwd.getpwnam("nobody").pw_uid)
    except KeyError:
        pytest.skip("no user 'nobody' on this machine")


def test_a_member_of_the_group_is_admitted_as_their_account(nobody):
    account = admit(nobody.uid, nobody.gid, {}, CONFIG)
    assert account == nobody and account.name == "nobody"


@pytest.mark.parametrize(("uid", "running", "why"), [
    (0, {}, "root does not get a lab session from the host"),
    (2_000_000_001, {}, "uid 2000000001 has no account on this host"),
])
def test_root_and_unknown_uids_are_refused(uid, running, why, nobody):
    with pytest.raises(Refused, match=f"^{why}$"):
        admit(uid, nobody.gid, running, CONFIG)


def test_a_user_outside_the_group_is_refused(nobody):
    outside = max(nobody.groups()) + 12345
    with pytest.raises(Refused, match="^nobody is not in the group 'students' of this lab$"):
        admit(nobody.uid, outside, {}, CONFIG)


def test_one_student_gets_at_most_per_student_sessions_and_the_host_a_cap(nobody):
    mine = dict.fromkeys((11, 12, 13), nobody.uid)
    with pytest.raises(Refused, match="already has 3 lab sessions open; quit one"):
        admit(nobody.uid, nobody.gid, mine, CONFIG)
    assert admit(nobody.uid, nobody.gid, {11: nobody.uid, 12: 4242}, CONFIG) == nobody
    full = dict.fromkeys(range(5), 4242)
    with pytest.raises(Refused, match=r"the lab host is full \(5 sessions\)"):
        admit(nobody.uid, nobody.gid, full, CONFIG)


def test_the_clients_line_keeps_only_the_terminals_the_locales_and_the_explorers_settings():
    sent = {"TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "NO_COLOR": "1",
            "AGENT_AUTH_HAND_IN": "/srv/in", "OPENAI_BASE_URL": "http://127.0.0.1:1",
            "HOME": "/root", "USER": "root", "PATH": "/evil", "LD_PRELOAD": "/tmp/x.so",
            "PYTHONPATH": "/tmp", "AGENT_AUTH_LAB_SOCKET": "/tmp/s", "BASH_ENV": "/tmp/x",
            "TERMCAP": "x", "lang": "x", "COLORTERM": "a\0b", "TZ": "x" * 5000}
    line = json.dumps({"version": 1, "env": {**sent, "N": 1, "L": [1]}}).encode()
    assert parse_header(line) == {
        "AGENT_AUTH_HAND_IN": "/srv/in", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "NO_COLOR": "1", "OPENAI_BASE_URL": "http://127.0.0.1:1", "TERM": "xterm-256color"}
    many = {f"LC_{a}{b}": "1" for a in "ABCDEFGHIJKLMNOP" for b in "ABCDEFGHIJKLMNOP"}
    assert len(parse_header(json.dumps({"version": 1, "env": many}).encode())) == 100


@pytest.mark.parametrize(("line", "why"), [
    (b"", "not JSON"), (b"\xff\xfe{", "not JSON"), (b"[" * 60_000, "not JSON"),
    (b"[1, 2]", "another protocol"),
    (b'{"version": "1"}', "another protocol"), (b'{"version": 1}', "no environment"),
    (b'{"version": 1, "env": "TERM=x"}', "no environment"),
    (b'{"version": 1, "env": {"TERM": NaN}}', None),
])
def test_a_line_that_is_not_the_protocol_is_refused_with_a_reason(line, why):
    if why is None:   # a non-string value is dropped, the rest kept
        assert parse_header(line) == {}
        return
    with pytest.raises(Refused, match=why):
        parse_header(line)


def test_who_the_student_is_comes_from_the_account_not_the_client(nobody):
    env = session_env({"TERM": "xterm", "LANG": "C.UTF-8"}, nobody)
    assert env == {"TERM": "xterm", "LANG": "C.UTF-8", "HOME": nobody.home, "USER": "nobody",
                   "LOGNAME": "nobody", "SHELL": nobody.shell,
                   "PATH": "/usr/local/bin:/usr/bin:/bin"}


def test_the_forcecommand_forwards_only_what_the_host_keeps():
    line = lab_connect.header({"TERM": "xterm", "PATH": "/x", "AGENT_AUTH_HAND_IN": "/srv",
                               "AGENT_AUTH_LAB_SOCKET": "/s", "SSH_AUTH_SOCK": "/a"})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"version": 1, "env": {"AGENT_AUTH_HAND_IN": "/srv",
                                                      "TERM": "xterm"}}


@pytest.mark.parametrize(("line", "code", "said"), [
    (b"exit 0", 0, ""), (b"exit 130", 130, ""), (b"exit -1", -1, ""),
    (b"refused the lab host is full", 2, "agent-auth: the lab host is full\n"),
    (b"hello", 1, "agent-auth: the lab host ended the session without saying why ('hello')\n"),
    (b"exit x", 1, "without saying why"),
])
def test_the_forcecommand_exits_as_the_host_says(line, code, said, capsys):
    assert lab_connect._answer(line) == code
    assert said in capsys.readouterr().err


def test_the_forcecommand_without_a_terminal_says_so_in_one_line():
    done = subprocess.run([sys.executable, str(ROOT / "agent_auth" / "lab_connect.py")],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == f"agent-auth: {lab_connect.NO_TERMINAL}\n"


def test_the_forcecommand_loads_only_the_standard_library():
    probe = ("import sys; before = set(sys.modules); import agent_auth.lab_connect; "
             "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] not in "
             "sys.stdlib_module_names | {'agent_auth'}))")
    done = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


PRELOAD_PROBE = """
import asyncio, os, sys
from agent_auth.lab_sessions import preload, threads
preload()
print(threads())
loaded = set(sys.modules)
from runtime import Settings
from tui.app import AgentAuthApp

async def session():
    app = AgentAuthApp(Settings.from_env(os.environ, lab=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(app.main_screen.settled.wait(), 120)
        await pilot.press("3")
        await pilot.pause(0.2)

asyncio.run(session())
print(" ".join(sorted(set(sys.modules) - loaded)))
"""


def test_the_host_preloads_what_a_session_loads_and_starts_no_thread(tmp_path):
    env = {**os.environ, "AGENT_AUTH_STATE_DIR": str(tmp_path / "state"),
           "AGENT_AUTH_CONFIG_DIR": str(tmp_path / "config"), "OPENBLAS_NUM_THREADS": "4"}
    done = subprocess.run([sys.executable, "-c", PRELOAD_PROBE], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    threads, later = done.stdout.splitlines()[-2:]
    assert threads == "1", "a fork must copy no thread"
    # the pattern's two files load per pattern; the rest is this test's headless driver
    late = [m for m in later.split() if not m.startswith("agent_auth_patterns.")]
    assert set(late) <= {"pwd", "textual.drivers.headless_driver", "textual.pilot"}, late


def test_a_forked_process_has_its_own_mark_for_the_runtimes_requests():
    from runtime import http

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:   # pragma: no cover - the child
        os.write(write, http._OWN_MARK.encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32 and child != http._OWN_MARK


def _answering(path: Path, answer: bytes) -> threading.Thread:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        conn.sendall(answer)
        conn.close()
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_the_doctor_says_whether_a_lab_host_answers(tmp_path):
    missing = lab.check_host(tmp_path / "none.sock")
    assert [f.ok for f in missing] == [True] and "no lab host" in missing[0].text
    _answering(tmp_path / "up.sock", b"refused root does not get a lab session\n")
    up = lab.check_host(tmp_path / "up.sock")
    assert [f.ok for f in up] == [True] and "answering" in up[0].text
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as dead:   # bound, never listening: a dead host
        dead.bind(str(stale))
        (line,) = [f.line() for f in lab.check_host(stale)]
    assert "FAIL" in line and "does not answer" in line and "systemctl restart" in line
    _answering(tmp_path / "other.sock", b"SSH-2.0-OpenSSH\r\n")
    (line,) = [f.line() for f in lab.check_host(tmp_path / "other.sock")]
    assert "FAIL  something else answers" in line


def test_the_host_needs_root_and_an_existing_group(monkeypatch, capsys):
    assert main(["lab", "host", "--group", "no-such-group-agent-auth"]) == 2
    err = capsys.readouterr().err
    if os.geteuid() == 0:
        assert err == ("agent-auth: no group 'no-such-group-agent-auth' on this host "
                       "(`groupadd no-such-group-agent-auth`, then add the students to it)\n")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["lab", "host"]) == 2
    assert "run it as root" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() != 0, reason="the lab host runs as root")
def test_the_host_will_not_make_its_socket_where_others_may_write(tmp_path):
    from agent_auth.lab_sessions import LabHostError, _listen

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)   # like /tmp: a student could swap the socket for a link
    with pytest.raises(LabHostError, match=r"must be root's and writable by root only"):
        _listen(HostConfig(socket=shared / "lab.sock"), os.getgid())
    assert not (shared / "lab.sock").exists()
    own = tmp_path / "own"
    own.mkdir(mode=0o755)
    listener = _listen(HostConfig(socket=own / "lab.sock"), 4242)
    try:
        info = (own / "lab.sock").stat()
        assert (info.st_mode & 0o777, info.st_uid, info.st_gid) == (0o660, 0, 4242)
    finally:
        listener.close()


@pytest.mark.parametrize("value", ["0", "-1", "101", "1e9", "nan", "3.5"])
def test_a_per_student_cap_outside_1_to_100_is_a_usage_error(value, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["lab", "host", "--per-student", value])
    assert exited.value.code == 2
    assert "--per-student" in capsys.readouterr().err


def test_the_forcecommands_fallback_keeps_the_students_home_off_the_import_path(monkeypatch,
                                                                               tmp_path):
    seen: list[list[str]] = []
    monkeypatch.setattr(os, "execv", lambda path, argv: seen.append(argv))
    lab_connect._direct()
    assert seen == [[sys.executable, "-I", "-m", "agent_auth", "--lab"]]
    # what -I buys: a planted `agent_auth` in the working directory is not the one that runs
    (tmp_path / "agent_auth").mkdir()
    (tmp_path / "agent_auth" / "__main__.py").write_text("print('planted')\n")
    done = subprocess.run([sys.executable, "-I", "-m", "agent_auth", "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0 and "planted" not in done.stdout
    assert "usage: agent-auth" in done.stdout


@pytest.fixture
def client_signals():
    """lab_connect.main installs handlers for the terminal's signals: put pytest's back."""
    import signal

    names = ("SIGWINCH", "SIGINT", "SIGQUIT", "SIGTSTP", "SIGTTIN", "SIGTTOU")
    saved = {name: signal.getsignal(getattr(signal, name)) for name in names}
    yield
    for name, handler in saved.items():
        signal.signal(getattr(signal, name), handler)


def _fake_host(path: Path, *lines: bytes) -> threading.Thread:
    """A lab host that takes the client's line and terminal, then says `lines` (none: it
    keeps the connection open and says nothing, as a stopped host's backlog would)."""
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        _data, fds, _flags, _ = socket.recv_fds(conn, 65536, 3)
        for fd in fds:
            os.close(fd)
        for line in lines:
            conn.sendall(line)
        if not lines:
            conn.recv(1)   # until the client gives up
        conn.close()
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(("lines", "code", "said"), [
    ((b"started\n", b"exit 7\n"), 7, ""),
    ((b"started\n",), 1, "the lab session ended unexpectedly"),
    ((b"refused bob is not in the group 'students' of this lab\n",), 2,
     "agent-auth: bob is not in the group 'students' of this lab"),
    ((), 1, "the lab host did not answer in 0 s; tell the instructor"),
])
def test_the_forcecommand_waits_for_the_host_and_ends_as_it_says(
        lines, code, said, tmp_path, monkeypatch, capsys, client_signals):
    path = tmp_path / "lab.sock"
    thread = _fake_host(path, *lines)
    monkeypatch.setenv(lab_connect.SOCKET_ENV, str(path))
    monkeypatch.setattr(os, "isatty", lambda fd: True)
    monkeypatch.setattr(lab_connect, "ANSWER_WITHIN", 0.3)
    assert lab_connect.main() == code
    assert said in capsys.readouterr().err
    thread.join(5)


def test_a_failed_fork_refuses_that_login_and_the_host_serves_on(monkeypatch, nobody):
    from agent_auth import lab_sessions

    monkeypatch.setattr(lab_sessions, "admit", lambda *_: nobody)

    def no_fork() -> int:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    host_side, client = socket.socketpair()
    sessions: dict[int, int] = {}
    with host_side, client:
        lab_sessions._serve_one(host_side, host_side, 0, sessions, CONFIG, lambda: 0)
        assert client.recv(200) == (b"refused the lab host is out of processes or memory; "
                                    b"try again in a minute\n")
    assert sessions == {}


def _until(predicate, timeout: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_a_session_turns_the_clients_bytes_into_its_signals_until_the_explorer_is_done():
    import signal

    from agent_auth.lab_sessions import _watch

    got: list[str] = []
    wanted = {signal.SIGWINCH: "resize", signal.SIGINT: "ctrl-c", signal.SIGHUP: "hang-up"}
    saved = {sig: signal.signal(sig, lambda signum, _f: got.append(wanted[signum]))
             for sig in wanted}
    try:
        session, client = socket.socketpair()
        finished = threading.Event()
        watcher = threading.Thread(target=_watch, args=(session, finished), daemon=True)
        watcher.start()
        client.send(b"W")
        assert _until(lambda: got == ["resize"]), got
        client.send(b"I")
        assert _until(lambda: got == ["resize", "ctrl-c"]), got
        client.close()   # the SSH connection dropped
        assert _until(lambda: got == ["resize", "ctrl-c", "hang-up"]), got
        watcher.join(5)
        session.close()
        got.clear()
        session, client = socket.socketpair()
        finished.set()   # the explorer has quit: its exit must not be cut short
        watcher = threading.Thread(target=_watch, args=(session, finished), daemon=True)
        watcher.start()
        client.send(b"IW")
        client.close()
        watcher.join(5)
        assert not watcher.is_alive() and not _until(lambda: bool(got), timeout=0.3), got
        session.close()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
