"""`agent-auth ... | head -1`: a reader that stops early gets no traceback on stderr.

The CLI runs as a real subprocess writing into a pipe. "Closed at once" is the reader that
is gone before the first write (`| true`); "after one line" is `| head -1` on an output
larger than a pipe holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent_auth.cli import EXIT_BROKEN_PIPE

AGENT_AUTH = str(Path(sys.executable).with_name("agent-auth"))
COMMANDS = [
    ["matrix", "--patterns", "p01", "p02"],
    ["matrix", "--json", "--patterns", "p01", "p02"],
    ["run", "-p", "p01", "-u", "alice", "What are my expenses?"],
]


def run_into_a_pipe(argv: list[str], read_first_line: bool) -> tuple[int, str]:
    read_end, write_end = os.pipe()
    child = subprocess.Popen([AGENT_AUTH, *argv], stdout=write_end, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        if read_first_line:
            reader.readline()
    # the reader is gone; whatever the CLI writes next meets a broken pipe
    _, stderr = child.communicate(timeout=120)
    return child.returncode, stderr.decode(errors="replace")


def assert_quiet(stderr: str) -> None:
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert "Exception ignored" not in stderr, stderr


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_a_reader_gone_before_the_first_write_gets_no_traceback(argv):
    code, stderr = run_into_a_pipe(argv, read_first_line=False)
    assert_quiet(stderr)
    assert code == EXIT_BROKEN_PIPE  # what the shell reports for a SIGPIPE


def test_head_1_on_the_matrix_gets_no_traceback():
    code, stderr = run_into_a_pipe(["matrix", "--patterns", "p01", "p02"], read_first_line=True)
    assert_quiet(stderr)
    assert code in (0, EXIT_BROKEN_PIPE)  # 0 when the output fitted in the pipe in time
