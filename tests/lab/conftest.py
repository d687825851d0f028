"""The lab host for tests/lab: the README's install, a real sshd and a student, built once
per test run; and loud skips where this machine cannot host it (it is reported in red at
the end of the run, not only as an 's' among the dots)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_host import (
    FIGURES,
    LOUD,
    ExplorerHost,
    LabUnavailable,
    SshServer,
    Student,
    ensure_student,
    explorer_host,
    install_lab,
    kill_all_of,
    require_root,
    ssh_server,
)

STUDENT = "agent-auth-student"
SAFE_PARENT = "/run" if Path("/run").is_dir() else "/var/lib"


def skip_loudly(reason: str) -> None:
    LOUD.append(reason)
    pytest.skip(f"LAB NOT TESTED: {reason}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in FIGURES:
        terminalreporter.write_line(f"lab: {line}")
    for reason in dict.fromkeys(LOUD):
        terminalreporter.write_line(f"!!!!!!!!!! THE SSH LAB WAS NOT TESTED: {reason} "
                                    "!!!!!!!!!!", red=True, bold=True)


@pytest.fixture(scope="session")
def lab_folder() -> Iterator[Path]:
    """Keys, sshd config and logs. Not under /tmp: sshd refuses authorized_keys below a
    directory others may write to (StrictModes), so under /run, which only root writes."""
    folder = Path(tempfile.mkdtemp(prefix="agent-auth-sshd-", dir=SAFE_PARENT))
    folder.chmod(0o755)
    (folder / "keys").mkdir(mode=0o755)   # sshd reads authorized_keys as the student
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def lab_install() -> Iterator[Path]:
    try:
        require_root()
        if shutil.which("tmux") is None:
            raise LabUnavailable("tmux is not installed (apt-get install -y tmux)")
        install = install_lab()
    except LabUnavailable as exc:
        skip_loudly(str(exc))
    yield install
    shutil.rmtree(install, ignore_errors=True)


@pytest.fixture(scope="session")
def lab_host(lab_folder: Path, lab_install: Path) -> Iterator[ExplorerHost]:
    """The README's systemd unit's ExecStart: loads the explorer once, forks each login."""
    with explorer_host(lab_install, lab_folder) as host:
        yield host


@pytest.fixture(scope="session")
def sshd(lab_folder: Path, lab_install: Path, lab_host: ExplorerHost) -> Iterator[SshServer]:
    try:
        with ssh_server(lab_folder, lab_install) as server:
            yield server
    except LabUnavailable as exc:
        skip_loudly(str(exc))


@pytest.fixture(scope="session")
def student(lab_folder: Path, lab_install: Path) -> Student:
    try:
        student = ensure_student(STUDENT, lab_folder / "keys")
    except LabUnavailable as exc:
        skip_loudly(str(exc))
        raise
    # what an interrupted earlier run of these tests may have left (the user is theirs alone)
    kill_all_of(student.uid)
    for folder in Path(tempfile.gettempdir()).glob("agent-auth-lab-*"):
        if folder.stat().st_uid == student.uid:
            shutil.rmtree(folder)
    return student
