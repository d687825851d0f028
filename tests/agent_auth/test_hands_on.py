"""`agent-auth replay`, `call` and `compare`: text for people, `--json` for machines, one
clear line (exit 2) for bad input."""

from __future__ import annotations

import json

import pytest

from agent_auth.cli import main


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[str, int]:
    """alice's expenses under p06 as JSON lines, and the number of the service hop."""
    path = tmp_path_factory.mktemp("hops") / "hops.jsonl"
    assert main(["export", "-p", "p06", "--format", "jsonl", "-o", str(path),
                 "What are my expenses?"]) == 0
    hops = [json.loads(line) for line in path.read_text().splitlines()]
    assert {h["pattern"] for h in hops} == {"p06"}
    service = next(h for h in hops if h["kind"] == "service" and h["tokens"])
    return str(path), service["seq"]


def test_replay_without_hop_lists_what_can_be_replayed(exported, capsys):
    path, seq = exported
    assert main(["replay", path]) == 0
    out = capsys.readouterr().out
    assert out.startswith("hops you can replay")
    assert f"{seq:>6} p06 service  mcp-server -> records  GET /expenses  200  [1 JWT]" in out


def test_replay_an_expired_token_under_p06_is_refused_by_the_service(exported, capsys):
    path, seq = exported
    assert main(["replay", path, "--hop", str(seq), "--set", "exp=@now-1h",
                 "--sign", "idp"]) == 0
    out = capsys.readouterr().out
    assert "sent to this run's records" in out
    assert "exp: " in out and "signed with the IdP's own key" in out
    assert "-> 401, decided by service: token expired" in out
    assert f"replay of #{seq}: GET /expenses" in out
    assert "captured in" not in out     # re-signed by this run: no note about other keys


def test_replay_json(exported, capsys):
    path, seq = exported
    assert main(["replay", path, "--hop", str(seq), "--set", "aud=directory-service",
                 "--sign", "idp", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["replay_of"] == seq and data["status"] == 401 and not data["allowed"]
    assert data["decided_by"] == "service" and "audience" in data["reason"]
    assert any("aud: records-service -> directory-service" in e for e in data["edits"])
    replayed = [h for h in data["hops"] if h["source"] == "replay"]
    assert replayed and replayed[0]["data"]["replay"]["of"] == seq


def test_replay_as_captured_carries_the_other_runs_signature(exported, capsys):
    path, seq = exported
    assert main(["replay", path, "--hop", str(seq), "--header", "X-Note: hi",
                 "--drop-header", "user-agent"]) == 0
    out = capsys.readouterr().out
    assert "-> 401, decided by service: token signed with an unknown key" in out
    # ... and says so before it is sent, with the way to have the claims judged instead
    assert ("token 0 (authorization) was signed by the IdP of the run it was captured in"
            in out and "--token 0 --sign idp" in out)
    assert out.index("--sign idp") < out.index("-> 401")


@pytest.mark.parametrize(("extra", "message"), [
    (["--hop", "9999"], "no HTTP hop 9999"),
    (["--hop", "{seq}", "--set", "exp=NaN"], "NaN is not JSON"),
    (["--hop", "{seq}", "--set", "=1"], "claim=value"),
    (["--hop", "{seq}", "--token", "5", "--set", "a=1"], "no token 5"),
    (["--hop", "{seq}", "--header", "nocolon"], "Name: value"),
    (["--hop", "{seq}", "--header", "Bad Name: v"], "not valid"),
    (["--hop", "{seq}", "--header", "X-Note: caf\u00e9"], "header values are ASCII"),
    (["--hop", "{seq}", "--path", "/x\udcff"], "the URL cannot be sent"),   # argv not UTF-8
    (["--hop", "{seq}", "--pattern", "p99"], "unknown pattern 'p99'"),
])
def test_replay_bad_input_is_one_clear_line(exported, capsys, extra, message):
    path, seq = exported
    argv = ["replay", path, *[a.replace("{seq}", str(seq)) for a in extra]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("agent-auth: ") and message in err and "Traceback" not in err


@pytest.mark.parametrize(("content", "message"), [
    ("", "holds no hops"), ("{not json\n", "is not a JSON line"), ("[1]\n", "not a hop"),
    ('{"seq": 1, "kind": "prompt"}\n', "no HTTP hops"),
])
def test_replay_bad_files(tmp_path, capsys, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    assert main(["replay", str(path), "--pattern", "p05"]) == 2
    assert message in capsys.readouterr().err
    assert main(["replay", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_call_a_tool_directly(capsys):
    assert main(["call", "--pattern", "p06", "--user", "dave", "manage_users",
                 '{"action": "set_role", "username": "dave", "role": "admin"}']) == 0
    out = capsys.readouterr().out
    assert out.startswith("dave calls manage_users(") and "no model in the loop" in out
    assert '"decided_by": "OPA"' in out and "set_role requires role admin" in out
    assert "llm" not in out.split("wire:")[1]


def test_call_json(capsys):
    assert main(["call", "-p", "p01", "-u", "alice", "read_data", '{"kind": "notes"}',
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tool"] == "read_data" and data["error"] is None
    assert "notes" in json.loads(data["result"])
    assert [h["kind"] for h in data["hops"]][0] == "prompt"


@pytest.mark.parametrize(("argv", "message"), [
    (["call", "-p", "p01", "read_data", "{oops"], "not valid JSON"),
    (["call", "-p", "p01", "read_data", "[1, 2]"], "must be a JSON object"),
    (["call", "-p", "p01", "read_data", '{"limit": ' + "9" * 5000 + "}"],
     "a number of more than 4300 digits in the arguments"),
    (["call", "-p", "p01", "read_data", "[" * 100_000], "nested too deeply"),
    (["call", "-p", "p01", "read_data", '{"limit": -Infinity}'], "-Infinity is not JSON"),
    (["call", "-p", "p01", "read_data", '{"a": {"b": [-1e400]}}'],
     "-1e400 is too large for a JSON number"),
    (["call", "-p", "p01", "drop_tables", "{}"], "unknown tool 'drop_tables'"),
    (["call", "-p", "p01", "-u", "eve", "read_data", "{}"], "unknown user 'eve'"),
    (["call", "-p", "p01", "read_data", '{"kind": "\\ud800"}'], "lone surrogate"),
    (["call", "-p", "p01", "read_data", '{"kind": "\udcff"}'], "lone surrogate"),
    (["run", "-p", "p01", "What are my expenses \udcff"], "the prompt cannot be sent"),
    (["export", "-p", "p01", "-o", "/dev/null", "hi \udcff"], "the prompt cannot be sent"),
    (["compare", "--patterns", "p05", "hi"], "two patterns"),
    (["compare", "--patterns", "p05,p06"], "one of the two"),
    (["compare", "--patterns", "p05,p06", "--step", "A5", "hi"], "not both"),
    (["compare", "--patterns", "p05,p99", "hi"], "unknown pattern 'p99'"),
])
def test_call_and_compare_bad_input(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_compare_text_marks_differences(capsys):
    assert main(["compare", "--patterns", "p05,p06", "--user", "alice",
                 "What are my expenses?"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("compare p05 | p06   alice: What are my expenses?")
    assert " > " in out and "token token-exchange" in out
    assert "decided by service -> OPA" in out
    assert "hops aligned" in out and "differ" in out


def test_compare_a_step_json(capsys):
    assert main(["compare", "--patterns", "p07,p08", "--step", "A7", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["patterns"] == ["p07", "p08"] and data["what"] == "step A7"
    assert data["left"]["outcome"].startswith("ALLOW")
    assert data["right"]["outcome"].startswith("DENY")
    assert data["differences"] > 0


def test_replay_to_another_party_and_path(exported, capsys):
    path, seq = exported
    assert main(["replay", path, "--hop", str(seq), "--to", "directory", "--path", "/users",
                 "--sign", "idp", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["request"]["target"] == "directory" and data["request"]["url"].endswith("/users")
    assert "sent to directory instead of records" in data["edits"]
    # p06 scopes the token to the records service: the directory refuses it
    assert data["status"] == 401 and "audience" in data["reason"]
    assert main(["replay", path, "--hop", str(seq), "--to", "billing"]) == 2
    assert "which this run does not have" in capsys.readouterr().err
    assert main(["replay", path, "--hop", str(seq), "--path", "users"]) == 2
    assert "must start with /" in capsys.readouterr().err


def test_challenges_list_show_and_solve_from_the_command_line(capsys, tmp_path):
    assert main(["challenges"]) == 0
    out = capsys.readouterr().out
    assert "escalate" in out and "✓" not in out.split("\n", 2)[2].split("✓ solved")[0]
    assert main(["run", "-p", "p01", "-u", "dave", "Make me an admin."]) == 0
    assert "challenge solved: Promote yourself (escalate) under p01" in capsys.readouterr().out
    assert main(["run", "-p", "p01", "-u", "dave", "--json", "Make me an admin."]) == 0
    found = json.loads(capsys.readouterr().out)["challenges"]
    assert found == [{"challenge": "escalate", "pattern": "p01", "new": False, "saved": True,
                      "proof": found[0]["proof"]}]
    assert main(["challenges", "--json"]) == 0
    listed = {c["id"]: c for c in json.loads(capsys.readouterr().out)["challenges"]}
    assert listed["escalate"]["solved"] == ["p01"] and listed["anonymous"]["solved"] == []
    assert main(["challenges", "escalate"]) == 0
    shown = capsys.readouterr().out
    assert "hint 3:" in shown and "solved under p01" in shown
    drop = tmp_path / "drop"
    drop.mkdir()
    assert main(["challenges", "--hand-in", str(drop)]) == 0
    assert "handed in 1 solved" in capsys.readouterr().out
    assert len(list(drop.iterdir())) == 1


def test_challenges_bad_input(capsys, tmp_path):
    assert main(["challenges", "nope"]) == 2
    assert "no challenge 'nope'" in capsys.readouterr().err
    assert main(["challenges", "--hand-in", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_a_replay_an_hour_later_under_p04_solves_stale_replay(tmp_path, capsys):
    path = tmp_path / "p04.jsonl"
    assert main(["--demo", "export", "-p", "p04", "--format", "jsonl", "-o", str(path),
                 "What are my expenses?"]) == 0
    hops = [json.loads(line) for line in path.read_text().splitlines()]
    seq = next(h["seq"] for h in hops if h["kind"] == "service")
    capsys.readouterr()
    assert main(["--demo", "replay", str(path), "--hop", str(seq), "--later", "1h"]) == 0
    out = capsys.readouterr().out
    assert "-> 200" in out and "challenge solved: An hour too late" in out


def test_a_key_from_another_run_is_named_as_such_before_it_is_refused(tmp_path, capsys):
    path = tmp_path / "p02.jsonl"
    assert main(["export", "-p", "p02", "--format", "jsonl", "-o", str(path),
                 "What are my expenses?"]) == 0        # not --demo: this run's own keys
    hops = [json.loads(line) for line in path.read_text().splitlines()]
    seq = next(h["seq"] for h in hops if h["kind"] == "service")
    capsys.readouterr()
    assert main(["replay", str(path), "--hop", str(seq)]) == 0
    out = capsys.readouterr().out
    assert "was issued in the run it was captured in" in out and "--demo" in out
    assert out.index("captured in") < out.index("-> 401")
    assert main(["--demo", "export", "-p", "p02", "--format", "jsonl", "-o", str(path),
                 "What are my expenses?"]) == 0
    capsys.readouterr()
    assert main(["--demo", "replay", str(path), "--hop", str(seq)]) == 0
    out = capsys.readouterr().out
    assert "-> 200" in out and "captured in" not in out


def test_the_instructors_lab_report(capsys, tmp_path, monkeypatch):
    drop = tmp_path / "hand-in"
    drop.mkdir()
    assert main(["run", "-p", "p01", "-u", "dave", "Make me an admin."]) == 0
    monkeypatch.setenv("AGENT_AUTH_HAND_IN", str(drop))
    assert main(["challenges", "--hand-in"]) == 0
    (drop / "mallory.json").write_text('{"version": 1, "user": "mallory", "solved": "x"}')
    capsys.readouterr()
    assert main(["lab", "report", str(drop)]) == 0
    out = capsys.readouterr().out
    assert "1 students handed in, 1 files unreadable" in out
    assert "escalate (p01)" in out and "unreadable mallory.json" in out
    assert main(["lab", "report", str(drop), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (user, solved), = data["students"].items()
    assert solved[0]["challenge"] == "escalate" and "mallory.json" in data["unreadable"]
    assert main(["lab", "report", str(tmp_path / "nowhere")]) == 2
    assert "cannot read" in capsys.readouterr().err
    monkeypatch.delenv("AGENT_AUTH_HAND_IN")
    assert main(["challenges", "--hand-in"]) == 2
    assert "AGENT_AUTH_HAND_IN" in capsys.readouterr().err
