"""A lab host on this machine, built from the README's recipe: the install, a real OpenSSH
server on 127.0.0.1 with the README's `sshd_config` block, and students who log in.

Used by the lab tests (tests/lab/) and by scripts/bench_lab.py. Needs root (sshd that logs
other users in, useradd) and `/usr/sbin/sshd`; `LabUnavailable` says why when it cannot run.
Nothing is written to /etc/ssh: the server gets its own config and host key in a temp dir.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_INSTALL = "/opt/agent-auth-explorer"   # the folder the README installs into
STUDENTS = "students"
SSHD = Path("/usr/sbin/sshd")
LOUD: list[str] = []      # reasons the lab could not be tested, said in red at the end
FIGURES: list[str] = []   # measured figures, printed at the end of the run


class LabUnavailable(RuntimeError):
    """This machine cannot host the lab (not root, no sshd, sshd does not start...)."""


# -- the README is the recipe -----------------------------------------------------------------

def lab_section(text: str | None = None) -> str:
    text = README.read_text(encoding="utf-8") if text is None else text
    match = re.search(r"^## Demos and labs\n(.*?)(?=^## )", text, re.S | re.M)
    if match is None:
        raise AssertionError("README.md has no '## Demos and labs' section")
    return match.group(1)


def _blocks(section: str) -> list[str]:
    return [textwrap.dedent(b) for b in re.findall(r"```[a-z]*\n(.*?)```", section, re.S)]


def install_script(install: Path, section: str | None = None) -> str:
    """The README's install commands for `install` (the `git clone` is done by the caller:
    a copy of this working tree, so what is tested is what is checked out)."""
    block = next((b for b in _blocks(section or lab_section()) if "git clone" in b), None)
    if block is None:
        raise AssertionError("the lab section has no install block (with `git clone`)")
    lines = [line for line in block.splitlines() if not line.startswith("git clone")]
    return "\n".join(lines).replace(README_INSTALL, str(install)) + "\n"


def sshd_block(install: Path, section: str | None = None) -> str:
    """The README's sshd_config lines (global options, then the `Match Group students`)."""
    block = next((b for b in _blocks(section or lab_section()) if "ForceCommand" in b), None)
    if block is None:
        raise AssertionError("the lab section has no sshd_config block (with ForceCommand)")
    lines = [line for line in block.splitlines() if not line.lstrip().startswith("#")]
    return "\n".join(lines).replace(README_INSTALL, str(install)) + "\n"


def host_argv(install: Path, section: str | None = None) -> list[str]:
    """The README's systemd unit's ExecStart: the lab host that forks the sessions."""
    block = next((b for b in _blocks(section or lab_section()) if "ExecStart=" in b), None)
    if block is None:
        raise AssertionError("the lab section has no systemd unit (with ExecStart=)")
    line = next(x for x in block.splitlines() if x.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart=").replace(README_INSTALL, str(install)))


def copy_tree(target: Path) -> None:
    """What `git clone` would give, plus uncommitted changes: the files git knows or would
    add (nothing ignored, so no .venv, caches or exports)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    for name in listed.stdout.decode().split("\0"):
        source = ROOT / name
        if name and source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def uv_binary() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    if not uv:
        raise LabUnavailable("uv is not installed")
    return uv


def install_lab(parent: Path = Path("/tmp")) -> Path:
    """Install the explorer the README's way into a fresh folder every user can enter."""
    version = subprocess.run(["/usr/bin/python3", "-c", "import sys; print(sys.version_info "
                              ">= (3, 11))"], capture_output=True, text=True, check=False)
    if version.stdout.strip() != "True":
        raise LabUnavailable("/usr/bin/python3 is missing or older than 3.11, which the "
                             "README's recipe installs with")
    install = Path(tempfile.mkdtemp(prefix="agent-auth-explorer-", dir=parent))
    install.chmod(0o755)
    copy_tree(install)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT", "PYTHON"))}
    env["PATH"] = f"{Path(uv_binary()).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", install_script(install)],
                          cwd=install, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(install, ignore_errors=True)
        raise AssertionError(f"the README's install failed (exit {done.returncode}):\n"
                             f"{done.stdout}\n{done.stderr}")
    return install


# -- students ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Student:
    name: str
    uid: int
    gid: int
    home: Path
    key: Path   # private key, readable by root only (the ssh client runs as root)


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabUnavailable("needs root: sshd logging other users in, useradd")


def ensure_student(name: str, keys: Path) -> Student:
    """The `students` group and `name` in it (home, bash, no password, not locked), with a
    key pair in `keys` authorised to log in."""
    import pwd

    require_root()
    if subprocess.run(["getent", "group", STUDENTS], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", STUDENTS], check=True)
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--gid", STUDENTS, "--shell", "/bin/bash",
                        name], check=True)
    # '*': no password can match, yet the account is not locked ('!'), which sshd refuses
    subprocess.run(["usermod", "--password", "*", name], check=True)
    entry = pwd.getpwnam(name)
    key = keys / f"{name}_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f",
                        str(key)], check=True)
    authorized = keys / "authorized_keys"
    authorized.mkdir(mode=0o755, exist_ok=True)
    shutil.copy(key.with_suffix(".pub"), authorized / name)
    (authorized / name).chmod(0o644)
    return Student(name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir), key)


def processes_of(uid: int) -> dict[int, str]:
    """pid -> command line of every live process of `uid` (zombies count as gone)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except (OSError, IndexError):
            continue
        if state != "Z":
            found[int(entry.name)] = command
    return found


SESSION_COMM = "lab-session"   # what a session forked by the lab host is called


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def explorer_pid(uid: int) -> int | None:
    """The student's explorer: a session the lab host forked, or one its ForceCommand
    started itself (`python -m agent_auth --lab`), not the ForceCommand waiting for it."""
    return next((pid for pid, cmd in processes_of(uid).items()
                 if comm(pid) == SESSION_COMM or "--lab" in cmd.split()), None)


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"


def kill_all_of(uid: int) -> None:
    """Teardown after a failure: end the processes this test's student started, by pid."""
    for pid in processes_of(uid):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


WRITABLE_PLACES = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), Path("/run/lock"))


def files_of(student: Student) -> dict[str, tuple[int, int]]:
    """Everything `student` owns where a user can write, and their whole home:
    path -> (size, mtime_ns)."""
    found: dict[str, tuple[int, int]] = {}
    for place in (student.home, *WRITABLE_PLACES):
        if not place.is_dir():
            continue
        for folder, dirs, files in os.walk(place):
            for name in dirs + files:
                path = Path(folder) / name
                try:
                    info = path.lstat()
                except OSError:
                    continue
                if place == student.home or info.st_uid == student.uid:
                    found[str(path)] = (info.st_size, info.st_mtime_ns)
    return found


# -- the lab host (`agent-auth lab host`), as the README's systemd unit runs it ----------------

HOST_SOCKET = Path("/run/agent-auth-lab/lab.sock")   # the host's default, the README's


class ExplorerHost:
    """The README's ExecStart, run as root; `paused()` stops it for a while (the ForceCommand
    then starts the explorer itself)."""

    def __init__(self, install: Path, folder: Path) -> None:
        self.argv = host_argv(install)
        self.log_path = folder / "lab-host.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        require_root()
        before = len(self.log())
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the lab host exited ({self.process.returncode}):\n"
                                     f"{self.log()}")
            if "serving" in self.log()[before:] and HOST_SOCKET.is_socket():
                return
            time.sleep(0.05)
        raise AssertionError(f"the lab host did not start:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @contextmanager
    def paused(self) -> Iterator[None]:
        self.stop()
        try:
            yield
        finally:
            self.start()


@contextmanager
def explorer_host(install: Path, folder: Path) -> Iterator[ExplorerHost]:
    host = ExplorerHost(install, folder)
    host.start()
    try:
        yield host
    finally:
        host.stop()


# -- the OpenSSH server ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SshServer:
    port: int
    folder: Path
    process: subprocess.Popen[bytes]
    known_hosts: Path

    def ssh_argv(self, student: Student, *extra: str) -> list[str]:
        return ["ssh", "-F", "/dev/null", "-p", str(self.port), "-i", str(student.key),
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                "-o", "LogLevel=ERROR", *extra, f"{student.name}@127.0.0.1"]

    def log(self) -> str:
        path = self.folder / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""


SSHD_BASE = """\
# The lab test's own sshd: loopback only, keys only, its own host key. The README's file is
# included first, as Debian's sshd_config includes sshd_config.d/*.conf. UsePAM is off
# because PAM's session modules (pam_loginuid, pam_systemd) need a booted system; what the
# lab depends on (ForceCommand, the TTY, the student's rights) is the same either way.
Include {folder}/sshd_config.d/*.conf
Port {port}
ListenAddress 127.0.0.1
HostKey {folder}/ssh_host_ed25519_key
PidFile {folder}/sshd.pid
AuthorizedKeysFile {folder}/keys/authorized_keys/%u
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
PrintMotd no
PrintLastLog no
LogLevel VERBOSE
"""


@contextmanager
def ssh_server(folder: Path, install: Path) -> Iterator[SshServer]:
    """sshd on a free 127.0.0.1 port with the README's file in its sshd_config.d, until the
    block ends."""
    require_root()
    if not SSHD.exists():
        raise LabUnavailable(f"{SSHD} is missing (apt-get install -y openssh-server)")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)   # its privilege separation directory
    host_key = folder / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)],
                   check=True)
    port = free_port()
    (folder / "sshd_config.d").mkdir(mode=0o755, exist_ok=True)
    (folder / "sshd_config.d" / "agent-auth-lab.conf").write_text(sshd_block(install))
    config = folder / "sshd_config"
    config.write_text(SSHD_BASE.format(port=port, folder=folder))
    checked = subprocess.run([str(SSHD), "-t", "-f", str(config)], capture_output=True,
                             text=True)
    if checked.returncode != 0:
        raise AssertionError(f"sshd rejects the README's block:\n{checked.stderr}")
    known = folder / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_key.with_suffix('.pub').read_text()}")
    log = (folder / "sshd.log").open("wb")
    process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log,
                               stderr=subprocess.STDOUT)
    server = SshServer(port, folder, process, known)
    try:
        _wait_for_port(port, process, server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], server: SshServer) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LabUnavailable(f"sshd exited at start ({process.returncode}): {server.log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise LabUnavailable(f"sshd did not listen on 127.0.0.1:{port}: {server.log()}")


# -- a student's terminal: ssh -tt inside tmux -------------------------------------------------

class TmuxLogin:
    """`ssh -tt` as `student`, in a detached tmux session of `size`; the exit code of ssh is
    written to a file when it ends."""

    def __init__(self, server: SshServer, student: Student, folder: Path,
                 size: tuple[int, int] = (120, 40)) -> None:
        self.name = f"agent-auth-lab-{student.name}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
        self.rc_file = folder / f"{self.name}.rc"
        ssh = " ".join(server.ssh_argv(student, "-tt"))
        command = f"{ssh}; echo $? > {self.rc_file}"
        self._tmux("new-session", "-d", "-s", self.name, "-x", str(size[0]), "-y", str(size[1]),
                   command)

    @staticmethod
    def _tmux(*args: str) -> str:
        return subprocess.run(["tmux", *args], check=True, capture_output=True,
                              text=True).stdout

    def screen(self) -> str:
        try:
            return self._tmux("capture-pane", "-p", "-t", self.name)
        except subprocess.CalledProcessError:
            return ""

    def wait_for(self, *needles: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(n in screen for n in needles):
                return screen
            if not self.alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"{needles!r} did not appear; the screen was:\n{screen}")

    def keys(self, *keys: str, literal: bool = False) -> None:
        self._tmux("send-keys", "-t", self.name, *(["-l"] if literal else []), *keys)

    def resize(self, columns: int, lines: int) -> None:
        self._tmux("resize-window", "-t", self.name, "-x", str(columns), "-y", str(lines))

    def alive(self) -> bool:
        return subprocess.run(["tmux", "has-session", "-t", self.name],
                              capture_output=True).returncode == 0

    def exit_code(self, timeout: float = 15.0) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.rc_file.exists() and self.rc_file.read_text().strip():
                return int(self.rc_file.read_text())
            time.sleep(0.05)
        return None

    def ssh_pid(self) -> int | None:
        """The ssh client (child of the pane's shell)."""
        pane = int(self._tmux("display", "-p", "-t", self.name, "#{pane_pid}"))
        children = Path(f"/proc/{pane}/task/{pane}/children")
        try:
            pids = [int(p) for p in children.read_text().split()]
        except OSError:
            return None
        return pids[0] if pids else None

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def wait_until(predicate: object, timeout: float, step: float = 0.005) -> float | None:
    """Seconds until `predicate()` held, or None after `timeout`."""
    assert callable(predicate)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(step)
    return None
