"""The README's lab recipe, for real: a student logs in over OpenSSH (`ssh -tt`, in tmux) to
the ForceCommand, lands in the explorer in lab mode, and leaves nothing behind.

Figures (the time from `q` to the explorer's exit) are printed at the end of the run, not
asserted: benchmarks measure (scripts/bench_lab.py), tests check behaviour.
"""

from __future__ import annotations

import os
import pwd
import socket
import stat
import subprocess
import time
from pathlib import Path

from lab_host import (
    FIGURES,
    SESSION_COMM,
    SshServer,
    Student,
    TmuxLogin,
    comm,
    explorer_pid,
    files_of,
    gone,
    kill_all_of,
    processes_of,
    wait_until,
)

from agent_auth.lab_connect import NO_TERMINAL


def _sockets(pid: int) -> set[str]:
    """The socket inodes among `pid`'s open descriptors."""
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


def _session_dirs(student: Student) -> list[Path]:
    return [p for p in Path("/tmp").glob("agent-auth-lab-*") if p.stat().st_uid == student.uid]


def _nothing_left(student: Student, before: dict[str, tuple[int, int]]) -> None:
    waited = wait_until(lambda: not processes_of(student.uid), timeout=10, step=0.05)
    assert waited is not None, f"still running as the student: {processes_of(student.uid)}"
    assert not _session_dirs(student), "the session's temporary directory is still there"
    after = files_of(student)
    assert after == before, ("the session wrote outside its temporary directory: "
                             f"{sorted(set(after.items()) ^ set(before.items()))}")


def _log_in(sshd: SshServer, student: Student, folder: Path) -> TmuxLogin:
    login = TmuxLogin(sshd, student, folder)
    try:
        screen = login.wait_for("lab]", "ready")
    except AssertionError:
        login.close()
        kill_all_of(student.uid)
        raise AssertionError(f"no explorer; sshd said:\n{sshd.log()[-3000:]}") from None
    assert "Agent Auth Explorer" in screen and "p01" in screen
    return login


def _quit(login: TmuxLogin) -> None:
    """Leave whatever has the focus, then `q`: the ssh session ends with 0."""
    login.keys("Escape")
    time.sleep(1.0)   # a lone Esc: tmux waits 500 ms for an Alt sequence
    login.keys("q")
    assert login.exit_code() == 0, login.screen()


def _export(login: TmuxLogin, student: Student) -> Path:
    login.keys("3")
    time.sleep(0.3)
    login.keys("What are my expenses?", literal=True)
    login.keys("Enter")
    login.wait_for("Parking - approved")
    login.keys("Escape")
    time.sleep(1.0)   # a lone Esc: tmux waits 500 ms for an Alt sequence
    login.keys("e")
    login.wait_for("Session exported")
    (folder,) = _session_dirs(student)
    assert folder.stat().st_mode & 0o777 == 0o700, "other students could read the exports"
    assert sorted(p.suffix for p in folder.iterdir()) == [".har", ".jsonl"]
    return folder


def test_q_ends_the_students_session_and_leaves_nothing_behind(sshd, student, lab_folder):
    before = files_of(student)
    login = _log_in(sshd, student, lab_folder)
    try:
        _export(login, student)
        pid = explorer_pid(student.uid)
        assert pid is not None, processes_of(student.uid)
        pressed = time.monotonic()
        login.keys("q")
        took = wait_until(lambda: gone(pid), timeout=15)
        assert took is not None, "the explorer did not quit on q"
        FIGURES.append(f"q to the exit of the student's explorer over OpenSSH: {took:.3f} s")
        assert login.exit_code() == 0, login.screen()
        assert wait_until(lambda: not login.alive(), timeout=10) is not None
        FIGURES.append(f"q to the end of the ssh session: {time.monotonic() - pressed:.3f} s")
        _nothing_left(student, before)
    finally:
        login.close()
        kill_all_of(student.uid)


def test_a_dropped_connection_ends_the_session_and_removes_its_exports(
        sshd, student, lab_folder):
    before = files_of(student)
    login = _log_in(sshd, student, lab_folder)
    try:
        _export(login, student)
        ssh = login.ssh_pid()
        assert ssh is not None
        os.kill(ssh, 9)   # the laptop lid closes: no goodbye, the TCP connection just ends
        _nothing_left(student, before)
    finally:
        login.close()
        kill_all_of(student.uid)


def test_without_a_terminal_a_lab_session_says_so_and_ends(sshd, student):
    before = files_of(student)
    done = subprocess.run(sshd.ssh_argv(student, "-T"), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr, sshd.log()[-2000:])
    assert "needs a terminal: connect with `ssh -t`" in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    _nothing_left(student, before)


def _progress_file(student: Student) -> Path:
    return student.home / ".local" / "state" / "agent-auth" / "challenges.json"


def _solve_stale_replay_under_p04(login: TmuxLogin) -> None:
    """As a student would: p04, alice's expenses, then the service hop replayed an hour
    later (R, l, ctrl+s) from the Wire pane, filtered to service hops."""
    login.keys("Escape")
    time.sleep(1.0)   # a lone Esc: tmux waits 500 ms for an Alt sequence
    for _ in range(3):
        login.keys("n")
        time.sleep(0.4)
    login.wait_for("p04 User key via tool argument")
    login.keys("3")
    time.sleep(0.3)
    login.keys("What are my expenses?", literal=True)
    login.keys("Enter")
    login.wait_for("You have 4 expenses")
    login.keys("Escape")
    time.sleep(1.0)
    login.keys("/")
    time.sleep(0.3)
    login.keys("kind:service", literal=True)
    login.keys("Enter")
    login.wait_for("filter: kind:service")
    login.keys("Escape")
    time.sleep(1.0)
    login.keys("4")
    time.sleep(0.3)
    login.keys("R")
    login.wait_for("Replay hop")
    login.keys("l")
    time.sleep(0.3)
    login.keys("C-s")
    login.wait_for("Challenge solved", "An hour too late under p04")


def test_a_challenge_solved_over_ssh_is_still_solved_at_the_next_login(
        sshd, student, lab_folder):
    progress = _progress_file(student)
    progress.unlink(missing_ok=True)
    before = files_of(student)
    login = _log_in(sshd, student, lab_folder)
    try:
        _solve_stale_replay_under_p04(login)
        _quit(login)
    finally:
        login.close()
        kill_all_of(student.uid)
    # the one thing a session keeps: the student's own progress, readable by them alone
    assert progress.is_file() and progress.stat().st_uid == student.uid
    assert progress.stat().st_mode & 0o777 == 0o600
    assert "stale-replay" in progress.read_text(encoding="utf-8")
    written = sorted(set(files_of(student)) - set(before))
    folders = {str(f) for f in progress.parents if f != student.home and student.home in f.parents}
    assert str(progress) in written and set(written) <= {*folders, str(progress)}, written

    again = _log_in(sshd, student, lab_folder)
    try:
        again.keys("Escape")
        time.sleep(1.0)
        again.keys("C")
        board = again.wait_for("An hour too late")
        row = next(line for line in board.splitlines() if "An hour too late" in line)
        assert row.split("break in")[1].split() == ["·", "·", "·", "✓"], board   # p01-p04
        _quit(again)
    finally:
        again.close()
        kill_all_of(student.uid)
        progress.unlink(missing_ok=True)


def test_a_login_is_a_session_the_lab_host_forked_as_the_student(sshd, student, lab_folder,
                                                                  lab_host):
    login = _log_in(sshd, student, lab_folder)
    try:
        pid = explorer_pid(student.uid)
        assert pid is not None and comm(pid) == SESSION_COMM, processes_of(student.uid)
        status = Path(f"/proc/{pid}/status").read_text()
        ids = {line.split(":")[0]: line.split()[1:] for line in status.splitlines()
               if line.startswith(("Uid:", "Gid:", "Groups:"))}
        assert ids["Uid"] == [str(student.uid)] * 4 and ids["Gid"] == [str(student.gid)] * 4
        assert ids["Groups"] == [str(student.gid)]
        assert os.getsid(pid) == pid, "a session of its own, away from the host's"
        assert f"session {pid} for {student.name}" in lab_host.log()
        # nothing of the host's: not its listening socket (a student holding it could take
        # other students' logins, terminals and all), not its environment or folder
        assert lab_host.process is not None
        hosts = _sockets(lab_host.process.pid)
        assert hosts and not hosts & _sockets(pid), "the session kept one of the host's sockets"
        # /proc/<pid>/environ is the block the host was started with, whatever the session's
        # os.environ says: the session is not dumpable, so the student cannot read it (nor
        # the rest of the host's memory)
        peek = subprocess.run(["cat", f"/proc/{pid}/environ"], user=student.uid,
                              group=student.gid, extra_groups=[], capture_output=True,
                              timeout=30)
        assert peek.returncode != 0 and b"Permission denied" in peek.stderr, peek
        assert os.readlink(f"/proc/{pid}/cwd") == str(student.home)
        assert "Umask:\t0022" in status
        # the window changes size: the ForceCommand passes it on, the explorer lays out again
        login.resize(90, 30)
        login.wait_for("1 Pattern  2 User  3 Chat  4 Wire")
        _quit(login)
        assert wait_until(lambda: gone(pid), timeout=10) is not None
    finally:
        login.close()
        kill_all_of(student.uid)


def test_without_the_lab_host_the_forcecommand_starts_the_explorer_itself(
        sshd, student, lab_folder, lab_host):
    before = files_of(student)
    with lab_host.paused():
        login = _log_in(sshd, student, lab_folder)
        try:
            pid = explorer_pid(student.uid)
            assert pid is not None and comm(pid) != SESSION_COMM, processes_of(student.uid)
            _quit(login)
        finally:
            login.close()
            kill_all_of(student.uid)
    _nothing_left(student, before)


# A client of the host's socket that is not the ForceCommand: what a student could write.
RAW_CLIENT = r"""
import json, os, socket, sys, time
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(15); return s
def answer(s):
    data = b""
    while b"\n" not in data:
        more = s.recv(4096)
        if not more: break
        data += more
    return data.decode(errors="replace").strip()
line = json.dumps({"version": 1, "env": {"TERM": "xterm"}}).encode() + b"\n"
null = os.open("/dev/null", os.O_RDWR)
cases = {
    "no terminal passed": lambda s: s.sendall(line),
    "not a terminal": lambda s: socket.send_fds(s, [line], [null, null, null]),
    "not json": lambda s: socket.send_fds(s, [b"\xff{{{\n"], [0, 1, 2]),
    "old protocol": lambda s: socket.send_fds(s, [b'{"version": 0}\n'], [0, 1, 2]),
    "env of the wrong type": lambda s: socket.send_fds(
        s, [b'{"version": 1, "env": [1e999]}\n'], [0, 1, 2]),
}
for name, send in cases.items():
    s = conn(); send(s); print(name, "->", answer(s)); s.close()
held = [conn() for _ in range(3)]   # three sessions waiting for their first line
time.sleep(0.5)
s = conn(); print("a fourth at once ->", answer(s))
"""


def test_what_the_host_refuses_is_one_line_and_the_host_serves_on(sshd, student, lab_folder,
                                                                 lab_host):
    from lab_host import HOST_SOCKET

    with socket.socket(socket.AF_UNIX) as sock:   # this test runs as root
        sock.settimeout(10)
        sock.connect(str(HOST_SOCKET))
        assert sock.recv(512) == b"refused root does not get a lab session from the host\n"
    assert stat.S_IMODE(HOST_SOCKET.stat().st_mode) == 0o660
    assert HOST_SOCKET.stat().st_gid == student.gid   # the students' group, nobody else
    nobody = subprocess.run(["/usr/bin/python3", "-c", "import socket,sys; s=socket.socket("
                             "socket.AF_UNIX); s.connect(sys.argv[1])", str(HOST_SOCKET)],
                            user="nobody", group=pwd.getpwnam("nobody").pw_gid,
                            extra_groups=[], capture_output=True, text=True,
                            timeout=30, stdin=subprocess.DEVNULL)
    assert "PermissionError" in nobody.stderr, nobody.stderr
    done = subprocess.run(["/usr/bin/python3", "-c", RAW_CLIENT, str(HOST_SOCKET)],
                          user=student.uid, group=student.gid, extra_groups=[],
                          capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, cwd="/")
    answers = dict(line.split(" -> ") for line in done.stdout.splitlines())
    assert answers == {
        "no terminal passed": "refused the lab client must pass its terminal (stdin, stdout "
                              "and stderr)",
        "not a terminal": "refused " + NO_TERMINAL,
        "not json": "refused the lab client sent something that is not JSON",
        "old protocol": "refused the lab client speaks another protocol (want version 1); "
                        "its install and the host's differ",
        "env of the wrong type": "refused the lab client sent no environment",
        "a fourth at once": f"refused {student.name} already has 3 lab sessions open; quit "
                            "one (q) first",
    }, (done.stdout, done.stderr)
    assert "Traceback" not in lab_host.log(), lab_host.log()[-3000:]
    assert wait_until(lambda: not processes_of(student.uid), timeout=30, step=0.1) is not None
    again = _log_in(sshd, student, lab_folder)   # the host serves on
    again.close()
    kill_all_of(student.uid)


def test_stopping_the_lab_host_ends_its_sessions_and_removes_their_exports(
        sshd, student, lab_folder, lab_host):
    before = files_of(student)
    login = _log_in(sshd, student, lab_folder)
    try:
        _export(login, student)
        with lab_host.paused():   # systemctl stop agent-auth-lab
            assert login.exit_code(timeout=20) is not None, login.screen()
            _nothing_left(student, before)
    finally:
        login.close()
        kill_all_of(student.uid)
