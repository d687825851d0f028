"""Lab hosting: what `agent-auth doctor --lab` checks, and the guard of a lab session.

An instructor installs the explorer once into a shared folder and students SSH in to a
`ForceCommand`, `<install>/.venv/bin/agent-auth-lab`, which hands the terminal to the lab
host or else runs `agent-auth --lab` itself (README, "Demos and labs").
Every student is another user, so what works for the admin can fail for all of them: a venv
whose interpreter lives in root's home (pyenv, a uv-managed Python) answers every login with
`bad interpreter: Permission denied`. The checks here look at the install as a student would
need it and print one line per problem, each with its fix.

Only the standard library is imported here: the session guard runs before the explorer loads.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent_auth.lab_connect import DEFAULT_SOCKET, FORCE_COMMAND, NO_TERMINAL, SOCKET_ENV
from runtime import run_main

if TYPE_CHECKING:
    from runtime import Settings

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("agent_auth", "tui", "runtime", "stack", "patterns")
MIN_COLUMNS, MIN_LINES = 80, 24
SHOWN = 3  # offending paths named in one line; the count says how many more


@dataclass(frozen=True)
class Finding:
    """One line of the report: `ok` (with what was checked) or a problem and its fix."""

    ok: bool
    text: str
    fix: str = ""

    def line(self) -> str:
        if self.ok:
            return f"  ok    {self.text}"
        return f"  FAIL  {self.text}. Fix: {self.fix}"


def passed(text: str) -> Finding:
    return Finding(True, text)


def failed(text: str, fix: str) -> Finding:
    return Finding(False, text, fix)


# -- permission bits, as a user who is neither owner nor group sees them ------------------

def _others_may(path: Path, bits: int) -> bool:
    return path.stat().st_mode & bits == bits


def _mode(path: Path) -> str:
    return stat.filemode(path.stat().st_mode)


def blocking_ancestor(path: Path) -> Path | None:
    """The first directory above `path` that other users cannot enter (search bit)."""
    for parent in reversed(path.parents):
        if not _others_may(parent, stat.S_IXOTH):
            return parent
    return None


def symlink_chain(path: Path) -> list[Path]:
    """`path` and every link it goes through, as written (each must be reachable)."""
    chain = [path]
    while chain[-1].is_symlink() and len(chain) < 40:
        target = Path(os.readlink(chain[-1]))
        chain.append(Path(os.path.normpath(chain[-1].parent / target)))
    return chain


def unreadable(root: Path, skip: Iterable[str] = (".git",)) -> tuple[list[Path], int]:
    """Paths under `root` other users cannot use: directories without r-x, files without r,
    and files executable by their owner but not by others. (first few, how many)."""
    found: list[Path] = []
    count = 0
    skipped = set(skip)
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skipped]
        here = Path(folder)
        entries = [(here / d, True) for d in dirs] + [(here / f, False) for f in files]
        for path, is_dir in entries:
            try:
                info = path.lstat()
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                continue
            need = stat.S_IROTH
            if is_dir or info.st_mode & stat.S_IXUSR:
                need |= stat.S_IXOTH
            if info.st_mode & need != need:
                count += 1
                if len(found) < SHOWN:
                    found.append(path)
    return found, count


def _named(paths: list[Path], count: int) -> str:
    more = f" and {count - len(paths)} more" if count > len(paths) else ""
    return ", ".join(str(p) for p in paths) + more


# -- the checks ---------------------------------------------------------------------------

def reinstall_hint(root: Path) -> str:
    return (f"reinstall with a Python outside any home directory: `cd {root} && uv sync "
            "--frozen --compile-bytecode --python /usr/bin/python3` (Python >= 3.11), or a "
            f"uv-managed one inside the install folder: `UV_PYTHON_INSTALL_DIR={root}/.python "
            "uv sync --frozen --compile-bytecode --python 3.11 --managed-python`")


def shebang(script: Path) -> Path | None:
    try:
        with script.open("rb") as handle:
            first = handle.readline(4096)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode(errors="replace").split()
    return Path(words[0]) if words else None


def check_interpreter(venv: Path, stdlib: Path, root: Path) -> list[Finding]:
    """The ForceCommand script, the interpreter its `#!` names (through every symlink) and
    the standard library behind the venv: all reachable and usable by other users."""
    launcher = venv / "bin" / FORCE_COMMAND
    if not launcher.is_file():
        return [failed(f"{launcher} (the ForceCommand) does not exist",
                       f"run `uv sync --frozen --compile-bytecode` in {root}")]
    findings: list[Finding] = []
    interpreter = shebang(launcher) or venv / "bin" / "python"
    chain = symlink_chain(interpreter)
    real = chain[-1]
    for link in [launcher, *chain]:
        blocked = blocking_ancestor(link)
        if blocked is not None:
            findings.append(failed(
                f"students cannot run {launcher}: its interpreter {real} is under {blocked} "
                f"({_mode(blocked)}), so every login ends in 'bad interpreter: Permission "
                "denied'", reinstall_hint(root)))
            return findings
    if not real.exists():
        return [failed(f"the interpreter {real} behind {launcher} does not exist",
                       reinstall_hint(root))]
    for path in (launcher, real):
        if not _others_may(path, stat.S_IROTH | stat.S_IXOTH):
            findings.append(failed(f"{path} is not readable and executable by other users "
                                   f"({_mode(path)})", f"`chmod o+rx {path}`"))
    blocked = blocking_ancestor(stdlib)
    bad, count = unreadable(stdlib)
    if blocked is not None:
        findings.append(failed(f"the standard library {stdlib} is under {blocked} "
                               f"({_mode(blocked)})", reinstall_hint(root)))
    elif count:
        findings.append(failed(f"{count} paths of the standard library are not readable by "
                               f"other users: {_named(bad, count)}", f"`chmod -R o+rX {stdlib}`"))
    if not findings:
        findings.append(passed(f"interpreter {real} and its standard library {stdlib}: "
                               "every user can run them"))
    return findings


def check_tree(root: Path) -> list[Finding]:
    """The install folder (sources, venv, bytecode) readable by others, and reachable."""
    blocked = blocking_ancestor(root)
    if blocked is not None:
        return [failed(f"the install folder {root} is under {blocked} ({_mode(blocked)}), "
                       "which other users cannot enter",
                       f"install under a shared folder such as /opt, or `chmod o+x {blocked}`")]
    bad, count = unreadable(root)
    if count:
        return [failed(f"{count} paths in {root} are not readable by other users: "
                       f"{_named(bad, count)}",
                       f"`chmod -R o+rX {root}` (and install with `umask 022`)")]
    return [passed(f"install folder {root}: readable by every user")]


def _stale(source: Path) -> bool:
    """No bytecode for `source`, or bytecode of another version of it (mtime or size)."""
    cached = Path(importlib.util.cache_from_source(str(source)))
    try:
        header = cached.read_bytes()[:16]
        info = source.stat()
    except OSError:
        return True
    if len(header) < 16 or header[:4] != importlib.util.MAGIC_NUMBER:
        return True
    if int.from_bytes(header[4:8], "little") & 0b1:   # hash-based: checked by Python itself
        return False
    mtime = int.from_bytes(header[8:12], "little")
    size = int.from_bytes(header[12:16], "little")
    return mtime != int(info.st_mtime) & 0xFFFFFFFF or size != info.st_size & 0xFFFFFFFF


def sources(folders: Iterable[Path]) -> Iterator[Path]:
    for folder in folders:
        for path, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            yield from (Path(path) / f for f in files if f.endswith(".py"))


def check_bytecode(root: Path, site_packages: Path) -> list[Finding]:
    """Students cannot write `__pycache__` in the admin's tree: without compiled bytecode
    every login compiles every module again (about 1.2 s of CPU more per student)."""
    folders = [root / name for name in PROJECT_PACKAGES] + [site_packages]
    total = 0
    stale: list[Path] = []
    for source in sources(f for f in folders if f.is_dir()):
        total += 1
        if _stale(source):
            stale.append(source)
    if stale:
        return [failed(f"{len(stale)} of {total} modules have no up-to-date bytecode "
                       f"(e.g. {stale[0]}), so every student compiles them at each login",
                       f"`cd {root} && uv sync --frozen --compile-bytecode && .venv/bin/python "
                       f"-m compileall -q {' '.join(PROJECT_PACKAGES)}`")]
    return [passed(f"bytecode: all {total} modules compiled")]


def check_tempdir(directory: Path | None = None, as_admin: bool | None = None) -> list[Finding]:
    """Each session's exports go to a fresh directory there; students must be able to make one
    without reading each other's (world-writable needs the sticky bit)."""
    folder = Path(directory or tempfile.gettempdir())
    try:
        made = tempfile.mkdtemp(prefix="agent-auth-doctor-", dir=folder)
        os.rmdir(made)
    except OSError as exc:
        return [failed(f"cannot create a directory in the temporary folder {folder}: "
                       f"{exc.strerror}", f"make {folder} writable (`chmod 1777 {folder}`) or "
                       "set TMPDIR to a writable folder")]
    admin = os.geteuid() == 0 if as_admin is None else as_admin
    mode = folder.stat().st_mode
    if admin and mode & 0o1777 != 0o1777:
        return [failed(f"students cannot create their session's directory in {folder} "
                       f"({stat.filemode(mode)})", f"`chmod 1777 {folder}`")]
    return [passed(f"temporary folder {folder}: writable (exports go to a private "
                   "directory there, removed at quit)")]


def check_terminal(size: os.terminal_size | None) -> list[Finding]:
    """`size` is None when not run in a terminal (then there is nothing to check)."""
    if size is None:
        return [passed("terminal size: not run in a terminal, not checked")]
    if size.columns < MIN_COLUMNS or size.lines < MIN_LINES:
        return [failed(f"this terminal is {size.columns}x{size.lines}; the explorer needs at "
                       f"least {MIN_COLUMNS}x{MIN_LINES}",
                       "enlarge the window (students need the same)")]
    return [passed(f"terminal {size.columns}x{size.lines} (at least {MIN_COLUMNS}x{MIN_LINES})")]


def terminal_size() -> os.terminal_size | None:
    if not sys.stdout.isatty():
        return None
    try:
        return os.get_terminal_size(sys.stdout.fileno())
    except OSError:
        return None


def check_as_student(venv: Path, user: str = "nobody") -> list[Finding]:
    """As root: start the ForceCommand and load the explorer as a user with no rights, which
    is what the permission bits predict, tried for real."""
    if os.geteuid() != 0:
        return []
    try:
        import pwd

        pwd.getpwnam(user)
    except KeyError:
        return [passed(f"no user {user!r} to try a login as; permission bits checked only")]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"}
    python = venv / "bin" / "python"
    started = time.perf_counter()
    # without a terminal the ForceCommand says so and exits 2: its interpreter did start
    for argv, exit_code in (([str(venv / "bin" / FORCE_COMMAND)], 2),
                            ([str(venv / "bin" / "agent-auth"), "--help"], 0),
                            ([str(python), "-c", "import tui.app, runtime.runner"], 0)):
        try:
            done = subprocess.run(argv, user=user, extra_groups=[], cwd="/", env=env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=120, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            return [failed(f"user {user!r} cannot start {argv[0]}: {exc}",
                           "see the lines above")]
        if done.returncode != exit_code:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return [failed(f"as user {user!r}, `{' '.join(argv[:2])}` failed: {last}",
                           "see the lines above")]
    took = time.perf_counter() - started
    return [passed(f"as user {user!r}: the ForceCommand starts and the explorer loads "
                   f"({took:.1f} s)")]


def check_host(path: Path) -> list[Finding]:
    """The lab host (`agent-auth lab host`) answering on its socket: it refuses root, which
    is an answer. Without a host each login loads the explorer itself, which also works."""
    import socket

    if not path.exists():
        return [passed(f"no lab host on {path}: each login loads the explorer itself (twice "
                       "the CPU); `systemctl enable --now agent-auth-lab` forks them from one "
                       "(README, \"Demos and labs\")")]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5.0)
        try:
            sock.connect(str(path))
            answer = sock.recv(512).decode("utf-8", "replace").strip()
        except OSError as exc:
            why = exc.strerror or str(exc)
            return [failed(f"the lab host's socket {path} does not answer ({why})",
                           "`systemctl restart agent-auth-lab` (`journalctl -u "
                           "agent-auth-lab` says why it stopped)")]
    if answer.startswith("refused "):   # as root, or not in the students' group: it is up
        return [passed(f"lab host on {path}: answering ({answer[8:]})")]
    return [failed(f"something else answers on {path}: {answer[:60]!r}",
                   "stop it, then `systemctl restart agent-auth-lab`")]


def lab_findings(root: Path = ROOT, venv: Path | None = None) -> list[Finding]:
    venv = venv or Path(sys.prefix)
    stdlib = Path(sysconfig.get_path("stdlib"))
    site_packages = Path(sysconfig.get_path("purelib"))
    findings = check_interpreter(venv, stdlib, root)
    findings += check_tree(root)
    findings += check_bytecode(root, site_packages)
    findings += check_tempdir()
    findings += check_terminal(terminal_size())
    if all(f.ok for f in findings):   # the real trial only confirms what the bits say
        findings += check_as_student(venv)
    findings += check_host(Path(os.environ.get(SOCKET_ENV, DEFAULT_SOCKET)))
    return findings


def report(findings: list[Finding], out: Callable[[str], None] = print) -> int:
    out("lab (what every student's session needs):")
    for finding in findings:
        out(finding.line())
    return 0 if all(f.ok for f in findings) else 1


def doctor(settings: Settings) -> int:
    """`agent-auth doctor --lab`: the usual doctor, then the lab checks; 1 if anything fails."""
    from agent_auth import commands

    code = run_main(commands.doctor(settings))
    lab_code = report(lab_findings())
    return 1 if code or lab_code else 0


# -- the lab session itself ------------------------------------------------------------------

def session_problem(stdin_tty: bool, stdout_tty: bool) -> str | None:
    """Why a lab session cannot start, or None. Without a terminal (`ssh` without a TTY, an
    `scp` or `sftp` run into the ForceCommand) the explorer would wait for keys forever."""
    if not (stdin_tty and stdout_tty):
        return NO_TERMINAL
    return None
