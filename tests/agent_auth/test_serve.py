"""`agent-auth serve`: a pattern's MCP server for clients of your own, as a real process.

What it prints is what a client needs: under p06 the 401 challenge names the metadata it
prints, the metadata names the realm, and the credentials it prints carry an MCP tool call
(the `mcp` SDK's client here; the Inspector in tests/interop); it then prints the client's
requests and the hops they cause.
Under p04 it hands over the user's key as a tool argument. Enter gives fresh credentials;
SIGINT and SIGTERM stop it cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from background import Served, mcp_call


@pytest.fixture
def p06() -> Iterator[tuple[Served, dict[str, Any]]]:
    served = Served("-p", "p06", "-u", "alice", "--json")
    first = json.loads(served.next_line())
    yield served, first
    if served.process.poll() is None:
        served.stop()



async def test_under_p06_it_serves_a_protected_mcp_server_and_the_credentials_for_it(p06):
    served, first = p06
    url, metadata = first["mcp_url"], first["resource_metadata"]
    assert first["pattern"] == "p06" and first["user"] == "alice"
    assert metadata and metadata.endswith("/.well-known/oauth-protected-resource/mcp")
    async with httpx.AsyncClient(timeout=10) as http:
        document = (await http.get(metadata)).json()
        assert document["resource"] == url
        assert document["authorization_servers"] == [first["issuer"]]
        refused = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize"},
                                  headers={"accept": "application/json, text/event-stream"})
    assert refused.status_code == 401
    assert f'resource_metadata="{metadata}"' in refused.headers["www-authenticate"]
    assert set(first["headers"]) == {"Authorization"} and not first["arguments"]
    assert first["expires_at"] > time.time()

    answer = await mcp_call(url, first["headers"])
    assert "External 4K monitor" in answer and "Taxi to customer" not in answer  # alice's only
    hops: list[dict[str, Any]] = []
    while not any(h["source"] == "client" and h["summary"] == "tools/call read_data"
                  for h in hops):
        hops.append(json.loads(served.next_line()))
    audit = [h["summary"] for h in hops if h["kind"] == "audit"]
    assert audit[-1].startswith("ALLOW read_expenses by alice")
    mine = [(h["status"], h["summary"]) for h in hops if h["source"] == "client"]
    assert mine[:2] == [(200, "GET /.well-known/oauth-protected-resource/mcp"),
                        (401, "POST /mcp")]             # refused before its body was read
    assert (200, "initialize") in mine                  # the SDK client's, with the token
    call = hops[-1]
    assert call["kind"] == "mcp" and call["target"] == "mcp-server"
    assert any(name.lower() == "authorization" for name, _ in call["request_headers"])
    assert any(h["kind"] == "opa" for h in hops)          # the service asked OPA
    assert any(h["kind"] == "idp" and "token-exchange" in h["summary"] for h in hops)
    code, err = served.stop(signal.SIGTERM)
    assert code == 0 and "Traceback" not in err


async def test_under_p04_the_users_key_goes_as_a_tool_argument():
    served = Served("-p", "p04", "-u", "bob", "--json")
    try:
        first = json.loads(served.next_line())
        assert first["resource_metadata"] is None and first["headers"] == {}
        key = first["arguments"]["api_key"]
        assert key.startswith("ak_bob_")
        url = first["mcp_url"]
        answer = await mcp_call(url, {}, "read_data", {"kind": "expenses", "api_key": key})
        assert "Taxi to customer" in answer            # bob's own expense
        refused = await mcp_call(url, {}, "read_data", {"kind": "expenses", "api_key": "ak_x"})
        assert "Taxi to customer" not in refused
    finally:
        code, err = served.stop()
    assert code == 0 and "Traceback" not in err


def test_for_people_it_prints_commands_to_paste_and_enter_gives_fresh_credentials():
    served = Served("-p", "p07", "-u", "dave", tty_stdin=True)
    try:
        shown = served.until("Your client's requests")
        text = "\n".join(shown)
        assert "protected resource metadata" in text and "curl -si -X POST" in text
        assert '--header "Authorization: $AUTHORIZATION"' in text
        assert '--header "X-Actor-Token: $X_ACTOR_TOKEN"' in text     # p07: the actor too
        assert "RFC 7591" not in text        # a client of its own has no actor token to send
        first = next(line for line in shown if line.startswith("  AUTHORIZATION="))
        assert served.master is not None
        os.write(served.master, b"\n")
        again = served.until("  X_ACTOR_TOKEN=")
        assert any(line.startswith("Fresh credentials") for line in again)
        # the new login's MCP requests are the agent's own, not shown as a client's
        assert not any("client -> mcp-server" in line.replace("  ", " ") for line in again)
        assert any(" agent -> mcp-server" in line for line in again)
        fresh = next(line for line in again if line.startswith("  AUTHORIZATION="))
        assert fresh != first                           # a new login, a new token
    finally:
        code, err = served.stop()
    assert code == 0 and "stopped" in err and "Traceback" not in err


def test_under_p06_it_says_a_client_may_run_the_oauth_flow_itself():
    served = Served("-p", "p06", "-u", "bob", tty_stdin=True)
    try:
        text = "\n".join(served.until("Your client's requests"))
    finally:
        code, err = served.stop()
    assert "registers at the IdP (RFC 7591" in text and "(bob / bob-pass)" in text
    assert code == 0 and "Traceback" not in err


def test_a_bad_pattern_or_user_is_one_line_and_exit_code_2():
    for argv, said in ((["-p", "p99"], "unknown pattern"), (["-p", "p06", "-u", "eve"],
                                                            "unknown user")):
        done = subprocess.run([sys.executable, "-m", "agent_auth", "serve", *argv],
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 2 and said in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
