"""The README's lab recipe, for real: a student logs in over OpenSSH (`ssh -tt`, in tmux) to
the ForceCommand, lands in the explorer in lab mode, and leaves nothing behind.

Figures (the time from `q` to the explorer's exit) are printed at the end of the run, not
asserted: benchmarks measure (scripts/bench_lab.py), tests check behaviour.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from lab_host import (
    FIGURES,
    SshServer,
    Student,
    TmuxLogin,
    explorer_pid,
    files_of,
    gone,
    kill_all_of,
    processes_of,
    wait_until,
)


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
        login.keys("Escape")
        time.sleep(1.0)
        login.keys("q")
        assert login.exit_code() == 0, login.screen()
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
        again.keys("Escape")
        time.sleep(1.0)
        again.keys("q")
        assert again.exit_code() == 0, again.screen()
    finally:
        again.close()
        kill_all_of(student.uid)
        progress.unlink(missing_ok=True)
