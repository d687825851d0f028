"""`agent-auth` headless commands: output, JSON shape, exit codes and clear errors."""

import json
import re

import pytest

from agent_auth.cli import main


def test_run_prints_answer_tool_calls_and_hops(capsys):
    assert main(["run", "--pattern", "p05", "--user", "dave", "Make me an admin."]) == 0
    out = capsys.readouterr().out
    assert "dave> Make me an admin." in out
    assert "tool manage_users" in out and '"role": "admin"' in out
    assert "agent (scripted)> [scripted model]" in out
    assert "wire:" in out and "directory" in out and " 403 " in out


def test_run_json_is_machine_readable(capsys):
    assert main(["run", "-p", "p01", "-u", "alice", "--json", "What are my expenses?"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pattern"] == "p01" and data["user"] == "alice"
    assert data["tool_calls"][0]["name"] == "read_data"
    assert {h["kind"] for h in data["hops"]} >= {"prompt", "mcp", "llm", "service", "answer"}


def test_run_a_step(capsys):
    assert main(["run", "-p", "p08", "--step", "A7"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("p08 A7: DENY") and "attacker" in out


def test_matrix_json_for_some_patterns_and_exit_code(capsys):
    assert main(["matrix", "--json", "--patterns", "p01", "p02"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["patterns"] == ["p01", "p02"]
    assert len(data["cells"]) == 2 * 14


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "-p", "p99", "hi"], "unknown pattern 'p99'"),
        (["run", "-p", "p01", "-u", "mallory", "hi"], "unknown user 'mallory'"),
        (["run", "-p", "p01", ""], "give a prompt"),
        (["run", "-p", "p01", "--step", "Z1"], "unknown step 'Z1'"),
        (["matrix", "--stack", "external"], "external stack not ready"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_code_2(capsys, monkeypatch, argv, message):
    monkeypatch.setenv("KEYCLOAK_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("OPA_URL", "http://127.0.0.1:9")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("agent-auth: ") and message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("workers", "message"), [
    ("0", "0 processes: choose 1 to 64"), ("-3", "-3 processes: choose 1 to 64"),
    ("x", "'x' is not a whole number"), ("65", "65 processes")])
def test_matrix_workers_must_be_a_count_of_processes(capsys, workers, message):
    with pytest.raises(SystemExit) as exit_:
        main(["matrix", f"--workers={workers}"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"argument --workers: {message}" in err


def test_bad_settings_are_a_clear_error(capsys, monkeypatch):
    monkeypatch.setenv("AGENT_AUTH_TIMEOUT", "soon")
    assert main(["doctor"]) == 2
    assert "AGENT_AUTH_TIMEOUT must be a number" in capsys.readouterr().err


def test_export_writes_har(tmp_path, capsys):
    target = tmp_path / "trace.har"
    assert main(["export", "-p", "p06", "-o", str(target), "What are my expenses?"]) == 0
    har = json.loads(target.read_text())
    assert har["log"]["version"] == "1.2" and har["log"]["entries"]
    entries, events = len(har["log"]["entries"]), len(har["log"]["_events"])
    assert events and (f"{entries} HTTP exchanges as entries; its _events hold the other "
                       f"{events} hops") in capsys.readouterr().out


def test_stack_status_embedded(capsys):
    assert main(["stack", "status"]) == 0
    out = capsys.readouterr().out
    assert "IdP (Keycloak-compatible): ok" in out and "OPA (regopy):              ok" in out


def test_doctor_loads_every_pattern(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"^  ok    p\d\d ", out, re.MULTILINE)) == 10


def test_show_prints_both_files_and_what_they_call(capsys):
    assert main(["show", "--pattern", "p06"]) == 0
    out = capsys.readouterr().out
    assert "# ---- p06_token_exchange_rbac/mcp_auth.py" in out
    assert '"grant_type": TOKEN_EXCHANGE' in out
    assert "#   request_token " in out and "runtime/presets/token_endpoint.py" in out
    assert "#   ask_opa " in out


def test_show_a_preset_prints_its_source_and_what_it_calls(capsys):
    assert main(["show", "--preset", "verify_dpop_proof"]) == 0
    out = capsys.readouterr().out
    assert "def verify_dpop_proof(" in out
    assert "# calls verify_proof: stack.jose.dpop" in out


def test_show_diff_is_against_the_previous_pattern(capsys):
    assert main(["show", "-p", "p08", "--diff"]) == 0
    out = capsys.readouterr().out
    assert "--- p07_on_behalf_of_rebac/mcp_auth.py" in out and "+++ p08_" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["show", "--preset", "no_such_thing"], "no preset or plugin API name 'no_such_thing'"),
    (["show"], "show needs --pattern"),
])
def test_show_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_matrix_exits_1_when_a_measured_column_differs_from_the_contract(capsys, monkeypatch):
    from runtime import contract

    changed = dict(contract.EXPECTED_COLUMNS)
    changed["p01"] = ("OPA", "no", "no", "no", "no")
    monkeypatch.setattr(contract, "EXPECTED_COLUMNS", changed)
    assert main(["matrix", "--patterns", "p01"]) == 1
    out = capsys.readouterr().out
    assert "authz lives          nowhere  ! expected OPA" in out
    assert "DIFFERS from the expected table" in out


def test_building_the_parser_loads_no_runtime_and_knows_every_command():
    import subprocess
    import sys

    code = ("import sys, agent_auth.cli as c; p = c._parser(); "
            "heavy = [m for m in ('runtime.runner', 'mcp', 'openai', 'fastapi', 'httpx') "
            "if m in sys.modules]; "
            "names = sorted(p._subparsers._group_actions[0].choices); print(heavy, names)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    heavy, names = out.split("] ", 1)
    assert heavy == "["
    from agent_auth.cli import COMMANDS
    assert names.strip() == str(sorted(COMMANDS))


def test_battery_options_are_parsed_when_battery_runs(capsys):
    from agent_auth.cli import _command, _parser

    assert _command(["--stack", "embedded", "battery", "--json"]) == "battery"
    args = _parser("battery").parse_args(["battery", "--family", "JWT", "--json"])
    assert args.family == ["JWT"] and args.json


def test_ctrl_c_during_the_matrix_says_so_and_leaves_no_worker_behind():
    """Ctrl-C while `agent-auth matrix` runs: exit 130 with one line, no traceback, and the
    forked worker gone with it."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "agent_auth", "matrix", "--workers", "2"],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        children: list[str] = []
        while not children and time.monotonic() < deadline:   # the workers are forked
            time.sleep(0.05)
            path = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
            children = path.read_text().split() if path.exists() else []
        assert children, "the matrix forked no worker"
        time.sleep(0.1)   # into the run: it takes ~2.5 s more on two cores
        os.killpg(proc.pid, signal.SIGINT)   # as the terminal does: the whole group
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    said = f"exit {proc.returncode}\nstderr:\n{err}\nstdout:\n{out[-2000:]}"
    assert proc.returncode == 130, said
    assert "agent-auth: interrupted" in err, said
    assert "Traceback" not in err, said
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(
            f"/proc/{pid}/stat").read_text().split()[2]


def test_ctrl_c_while_the_command_still_loads_says_so_without_a_traceback():
    """The first ~0.3 s of any command is Python importing its modules; Ctrl-C then used to
    print the interpreter's traceback from wherever the import was."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = str(Path(sys.executable).with_name("agent-auth"))
    for delay in (0.15, 0.3, 0.6):
        proc = subprocess.Popen([script, "run", "-p", "p01", "What are my expenses?"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        said = f"after {delay}s: exit {proc.returncode}, stderr: {err[-600:]}"
        assert proc.returncode == 130 and "Traceback" not in err, said
        assert err.strip() == "agent-auth: interrupted, nothing finished", said


def test_the_entry_point_pauses_the_collector_only_until_the_commands_modules_load(monkeypatch):
    """`entry` (the script) collects nothing while the imports build the heap, then freezes
    that heap and collects as usual while the command works; the exit skips the last
    collections (gc.freeze at exit)."""
    import atexit
    import gc
    import sys

    from agent_auth import cli, commands

    seen: dict[str, object] = {}

    async def run(args, settings):
        seen.update(collecting=gc.isenabled(), frozen=gc.get_freeze_count())
        return 0

    at_exit: list[object] = []
    monkeypatch.setattr(commands, "run", run)
    monkeypatch.setattr(atexit, "register", at_exit.append)
    monkeypatch.setattr(sys, "argv", ["agent-auth", "run", "-p", "p01", "hi"])
    gc.unfreeze()
    try:
        assert cli.entry() == 0
    finally:
        gc.enable()
        gc.unfreeze()
    assert seen["collecting"] is True and seen["frozen"] > 0
    assert at_exit == [gc.freeze]
