"""`agent-auth doctor --lab`: each problem a student would hit is one line with its fix."""

from __future__ import annotations

import compileall
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_auth import lab
from agent_auth.cli import main


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder every user can enter (pytest's tmp_path is inside a private one)."""
    folder = Path(tempfile.mkdtemp(prefix="agent-auth-doctor-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _venv(base: Path, interpreter: Path) -> Path:
    """A venv-shaped folder whose python links to `interpreter`, and its ForceCommand."""
    venv = base / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(interpreter)
    launcher = venv / "bin" / lab.FORCE_COMMAND
    launcher.write_text(f"#!{venv}/bin/python\nimport sys\n")
    launcher.chmod(0o755)
    return venv


def _stdlib() -> Path:
    import sysconfig

    return Path(sysconfig.get_path("stdlib"))


def _one_failure(findings: list[lab.Finding]) -> str:
    failures = [f.line() for f in findings if not f.ok]
    assert len(failures) == 1, failures
    assert "\n" not in failures[0]
    return failures[0]


def test_an_interpreter_in_a_private_home_is_the_bad_interpreter_students_get(open_dir):
    home = open_dir / "root"
    (home / "bin").mkdir(parents=True)
    python = home / "bin" / "python3.11"
    python.symlink_to(Path(sys.executable).resolve())
    home.chmod(0o700)   # root's home: pyenv's and uv's Pythons live there
    venv = _venv(open_dir / "install", python)
    line = _one_failure(lab.check_interpreter(venv, _stdlib(), open_dir / "install"))
    assert f"is under {home} (drwx------)" in line and "bad interpreter" in line
    assert "--python /usr/bin/python3" in line and "UV_PYTHON_INSTALL_DIR=" in line


def test_a_shared_interpreter_passes(open_dir):
    python = Path("/usr/bin/python3")
    if not python.exists():
        pytest.skip("no /usr/bin/python3 here")
    venv = _venv(open_dir, python)
    stdlib = open_dir / "lib" / "python3.11"   # a readable one (this test's may be pyenv's)
    stdlib.mkdir(parents=True)
    (stdlib / "os.py").write_text("")
    findings = lab.check_interpreter(venv, stdlib, open_dir)
    assert [f.ok for f in findings] == [True], [f.line() for f in findings]


def test_a_missing_forcecommand_is_reported(open_dir):
    line = _one_failure(lab.check_interpreter(open_dir / ".venv", _stdlib(), open_dir))
    assert "(the ForceCommand) does not exist" in line and "uv sync" in line


def test_files_only_the_admin_can_read_are_named_with_chmod(open_dir):
    (open_dir / "runtime").mkdir()
    secret = open_dir / "runtime" / "agent.py"
    secret.write_text("x = 1\n")
    secret.chmod(0o600)   # an install made under umask 077
    line = _one_failure(lab.check_tree(open_dir))
    assert str(secret) in line and f"`chmod -R o+rX {open_dir}`" in line
    secret.chmod(0o644)
    assert all(f.ok for f in lab.check_tree(open_dir))


def test_an_install_folder_others_cannot_enter_is_reported(open_dir):
    private = open_dir / "private"
    (private / "install").mkdir(parents=True)
    private.chmod(0o700)
    line = _one_failure(lab.check_tree(private / "install"))
    assert f"under {private}" in line and "/opt" in line


def test_missing_or_stale_bytecode_is_reported_until_compiled(open_dir):
    package = open_dir / "runtime"
    package.mkdir()
    (package / "agent.py").write_text("x = 1\n")
    site = open_dir / "site-packages"
    site.mkdir()
    line = _one_failure(lab.check_bytecode(open_dir, site))
    assert "1 of 1 modules" in line and "--compile-bytecode" in line and "compileall" in line
    assert compileall.compile_dir(package, quiet=1)
    assert all(f.ok for f in lab.check_bytecode(open_dir, site))
    (package / "agent.py").write_text("x = 22\n")   # edited after compiling (a git pull)
    os.utime(package / "agent.py", (1, 1))
    assert not any(f.ok for f in lab.check_bytecode(open_dir, site))


def test_a_temporary_folder_without_the_sticky_bit_is_reported_to_the_admin(open_dir):
    assert all(f.ok for f in lab.check_tempdir(Path(tempfile.gettempdir())))
    line = _one_failure(lab.check_tempdir(open_dir, as_admin=True))
    assert "students cannot create" in line and f"`chmod 1777 {open_dir}`" in line
    open_dir.chmod(0o1777)
    assert all(f.ok for f in lab.check_tempdir(open_dir, as_admin=True))


def test_a_temporary_folder_that_does_not_exist_is_reported(open_dir):
    line = _one_failure(lab.check_tempdir(open_dir / "gone"))
    assert "cannot create a directory" in line and "TMPDIR" in line


@pytest.mark.parametrize(("size", "ok"), [((80, 24), True), ((200, 60), True),
                                          ((79, 40), False), ((120, 23), False)])
def test_the_terminal_must_be_at_least_80x24(size, ok):
    findings = lab.check_terminal(os.terminal_size(size))
    assert [f.ok for f in findings] == [ok]
    if not ok:
        assert "at least 80x24" in findings[0].line()


def test_no_terminal_is_not_a_problem_for_the_doctor():
    assert [f.ok for f in lab.check_terminal(None)] == [True]


def test_report_prints_one_line_each_and_exits_1_on_any_failure():
    lines: list[str] = []
    code = lab.report([lab.passed("fine"), lab.failed("broken", "mend it")], lines.append)
    assert code == 1
    assert lines[1:] == ["  ok    fine", "  FAIL  broken. Fix: mend it"]
    assert lab.report([lab.passed("fine")], lines.append) == 0


def test_a_lab_session_without_a_terminal_ends_in_one_line(capsys):
    assert lab.session_problem(True, True) is None
    assert main(["--lab"]) == 2   # pytest's stdin is not a terminal
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs a terminal: connect with `ssh -t`" in err
