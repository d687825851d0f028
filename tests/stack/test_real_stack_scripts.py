"""stack/native.sh and .ci/real_stack.sh: the real-stack tier must not skip by accident.

`opa version | grep -qx ...` under `set -o pipefail` failed whenever grep closed the pipe
before opa finished writing (SIGPIPE), so a built OPA looked unbuildable and CI printed
"skipped" and passed. These tests run the scripts against fake binaries in a temporary cache:
a chatty `opa` that keeps writing after its version line, and artifacts that are on disk
but do not run, which must fail the tier rather than skip it.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = dict(line.split("=", 1) for line in
                (ROOT / "stack" / "versions.env").read_text().splitlines()
                if line and not line.startswith("#"))
OPA_VERSION, KEYCLOAK_VERSION = VERSIONS["OPA_VERSION"], VERSIONS["KEYCLOAK_VERSION"]
FAILING = "#!/bin/sh\necho \"$(basename \"$0\") is not available here\" >&2\nexit 1\n"


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def fake_opa(cache: Path, version: str = OPA_VERSION) -> Path:
    """An `opa` whose `version` prints the version line, then much more than a pipe holds."""
    return executable(cache / "bin" / f"opa-{OPA_VERSION}", (
        "#!/bin/sh\n"
        f'echo "Version: {version.lstrip("v")}"\n'
        'yes "Build Commit: 0123456789abcdef" | head -n 20000\n'
    ))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A temporary cache, fake `mvn` and `go` that fail (nothing can be fetched), free ports."""
    tools = tmp_path / "tools"
    for name in ("mvn", "go"):
        executable(tools / name, FAILING)
    return {**os.environ, "AGENT_AUTH_CACHE": str(tmp_path / "cache"),
            "PATH": f"{tools}:{os.environ['PATH']}", "MAVEN_REPO_URL": "",
            "KEYCLOAK_PORT": str(free_port()), "KEYCLOAK_MGMT_PORT": str(free_port()),
            "OPA_PORT": str(free_port()), "KEYCLOAK_START_TIMEOUT": "20"}


def run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_opa_version_check_is_not_fooled_by_sigpipe(env: dict[str, str]) -> None:
    fake_opa(Path(env["AGENT_AUTH_CACHE"]))
    for _ in range(5):  # `go` fails here, so a check that fails cannot rebuild its way out
        done = run(env, "stack/native.sh", "fetch", "opa")
        assert done.returncode == 0, done.stderr


def test_the_tier_skips_loudly_only_when_nothing_could_be_fetched(env: dict[str, str]) -> None:
    done = run(env, ".ci/real_stack.sh")
    assert done.returncode == 0, done.stderr
    assert "REAL STACK TIER SKIPPED: Keycloak (Maven Central) could not be fetched" in done.stdout
    assert run(env, "stack/native.sh", "fetch", "opa").returncode == 4
    assert run(env, "stack/native.sh", "fetched").returncode == 1


def test_the_tier_fails_when_a_fetched_opa_is_broken(env: dict[str, str]) -> None:
    cache = Path(env["AGENT_AUTH_CACHE"])
    executable(cache / f"keycloak-{KEYCLOAK_VERSION}" / "bin" / "kc.sh", FAILING)
    fake_opa(cache, version="0.0.1")  # on disk, but not the pinned version; go cannot rebuild
    assert run(env, "stack/native.sh", "fetch", "opa").returncode == 1
    done = run(env, ".ci/real_stack.sh")
    assert done.returncode == 1
    assert "SKIPPED" not in done.stdout + done.stderr
    assert "REAL STACK TIER FAILED: OPA (go install) is on disk" in done.stderr


def test_the_tier_fails_when_fetched_artifacts_do_not_start(env: dict[str, str]) -> None:
    cache = Path(env["AGENT_AUTH_CACHE"])
    executable(cache / f"keycloak-{KEYCLOAK_VERSION}" / "bin" / "kc.sh",
               '#!/bin/sh\necho "kc.sh $*"\nexit 1\n')
    fake_opa(cache)
    assert run(env, "stack/native.sh", "fetched").returncode == 0
    done = run(env, ".ci/real_stack.sh")
    assert done.returncode == 1, done.stdout
    assert "SKIPPED" not in done.stdout + done.stderr
    assert "Keycloak exited during start-up" in done.stderr
    assert "REAL STACK TIER FAILED: Keycloak and OPA were fetched but did not start" in done.stderr
    # the port knobs reach Keycloak (its log tail shows the arguments it got)
    assert f"--http-port={env['KEYCLOAK_PORT']}" in done.stderr
    assert f"--http-management-port={env['KEYCLOAK_MGMT_PORT']}" in done.stderr
