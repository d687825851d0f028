"""A lab explorer whose terminal hangs up exits and removes its exports, even when it is not
the session leader (a ForceCommand wrapper script, `runuser`), which gets no SIGHUP."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from lab_host import gone, wait_until

AGENT_AUTH = Path(sys.executable).with_name("agent-auth")
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def _screen_shows(session: str, text: str) -> bool:
    return text in _tmux("capture-pane", "-p", "-t", session)


def _export(session: str) -> None:
    _tmux("send-keys", "-t", session, "3")
    time.sleep(0.3)
    _tmux("send-keys", "-t", session, "-l", "What are my expenses?")
    _tmux("send-keys", "-t", session, "Enter")
    assert wait_until(lambda: _screen_shows(session, "Parking - approved"), 60, 0.1)
    _tmux("send-keys", "-t", session, "Escape")
    time.sleep(1.0)   # a lone Esc: tmux waits 500 ms for an Alt sequence
    _tmux("send-keys", "-t", session, "e")
    assert wait_until(lambda: _screen_shows(session, "Session exported"), 30, 0.1)


def test_an_explorer_that_loses_its_terminal_exits(tmp_path):
    session = f"agent-auth-hangup-{uuid.uuid4().hex[:8]}"
    temp = tmp_path / "tmp"
    temp.mkdir()
    # `; true` keeps sh in front: the explorer is its child, not the session leader
    command = f"cd {tmp_path} && TMPDIR={temp} {AGENT_AUTH} --lab; true"
    _tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", "sh", "-c", command)
    explorer = None
    try:
        shell = int(_tmux("display", "-p", "-t", session, "#{pane_pid}"))

        def started() -> bool:
            nonlocal explorer
            children = Path(f"/proc/{shell}/task/{shell}/children")
            found = children.read_text().split() if children.exists() else []
            explorer = int(found[0]) if found else None
            return explorer is not None and _screen_shows(session, "ready")

        assert wait_until(started, timeout=60, step=0.1) is not None, (
            "the explorer never came up: " + _tmux("capture-pane", "-p", "-t", session))
        assert explorer is not None
        _export(session)
        assert len(list(temp.iterdir())) == 1
        _tmux("kill-session", "-t", session)   # the terminal window is closed
        assert wait_until(lambda: gone(explorer), timeout=15, step=0.05) is not None, (
            "the explorer outlived its terminal")
        assert not list(temp.iterdir()), "its exports were left behind"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        if explorer is not None and not gone(explorer):
            subprocess.run(["kill", "-9", str(explorer)], capture_output=True)
