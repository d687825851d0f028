"""End to end: the real `agent-auth` in a real terminal (tmux), driven by keystrokes."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

AGENT_AUTH = Path(sys.executable).with_name("agent-auth")


def _launch(tmp_path: Path) -> str:
    """The command line: lab mode in `tmp_path`, the test's private state folder."""
    state = shlex.quote(os.environ["AGENT_AUTH_STATE_DIR"])
    return (f"unset COLUMNS LINES; export AGENT_AUTH_STATE_DIR={state}; "
            f"cd {tmp_path} && exec {AGENT_AUTH} --lab")
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def _wait_for(session: str, needle: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux("capture-pane", "-p", "-t", session)
        if needle in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} did not appear; the screen was:\n{screen}")


def test_real_app_answers_a_prompt_and_shows_its_hops(tmp_path):
    session = f"agent-auth-e2e-{uuid.uuid4().hex[:8]}"
    # Start a shell first, so the pane has its final size before the app reads it; the shell
    # exports COLUMNS/LINES at 80x24, which would override the real size, so drop them.
    _tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", "sh")
    try:
        _tmux("send-keys", "-t", session, "-l", _launch(tmp_path))
        _tmux("send-keys", "-t", session, "Enter")
        _wait_for(session, "ready")
        _tmux("send-keys", "-t", session, "3")
        time.sleep(0.3)
        _tmux("send-keys", "-t", session, "-l", "What are my expenses?")
        _tmux("send-keys", "-t", session, "Enter")
        screen = _wait_for(session, "Parking - approved")  # p01: the agent sees all 8
        assert "USD 1,450.00" in screen
        _tmux("send-keys", "-t", session, "Escape")
        time.sleep(1.0)  # a lone Esc (tmux waits 500 ms for an Alt sequence)
        _tmux("send-keys", "-t", session, "4")
        screen = _wait_for(session, "tools/call")
        assert "prompt" in screen and "answer" in screen
        _tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            sessions = subprocess.run(["tmux", "has-session", "-t", session],
                                      capture_output=True)
            if sessions.returncode != 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the app did not quit on q")
        assert not list(tmp_path.iterdir()), "lab mode wrote into the working directory"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def _keys(session: str, *keys: str, pause: float = 0.3) -> None:
    for key in keys:
        _tmux("send-keys", "-t", session, key)
        time.sleep(pause)


def test_replay_an_expired_token_and_call_a_tool_in_a_real_terminal(tmp_path):
    session = f"agent-auth-e2e-{uuid.uuid4().hex[:8]}"
    _tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "48", "sh")
    try:
        _tmux("send-keys", "-t", session, "-l", _launch(tmp_path))
        _tmux("send-keys", "-t", session, "Enter")
        _wait_for(session, "ready")
        _keys(session, "n", "n", "n", "n", "n")                 # p01 -> p06
        _wait_for(session, "p06 Scoped token exchange")
        _wait_for(session, "● ready")
        _keys(session, "3")
        _tmux("send-keys", "-t", session, "-l", "What are my expenses?")
        _keys(session, "Enter")
        _wait_for(session, "USD 1,450.00")
        _keys(session, "Escape", pause=1.0)   # a lone Esc: tmux waits 500 ms for Alt
        _keys(session, "/")
        _tmux("send-keys", "-t", session, "-l", "kind:service")
        _keys(session, "Enter")
        _wait_for(session, "filter: kind:service")
        _keys(session, "R")
        _wait_for(session, "Replay hop #")
        _keys(session, "x")                                      # exp in the past, and send
        screen = _wait_for(session, "decided by service")
        assert "401 REFUSED" in screen and "token expired" in screen
        assert "exp: " in screen
        _keys(session, "Escape", pause=1.0)
        screen = _wait_for(session, "replay of #")
        _keys(session, "T")
        _wait_for(session, "Call a tool as alice under p06")
        _keys(session, "C-s")
        screen = _wait_for(session, "the tool answered")
        assert "expenses" in screen
        _keys(session, "Escape", pause=1.0)
        _keys(session, "q")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
