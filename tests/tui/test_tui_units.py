"""Small pieces of the TUI: the wire filter, masking, chat entries from hops, the bridge."""

from __future__ import annotations

import asyncio
import json
import re
import threading

import pytest

from runtime.wire import Hop
from tui.bridge import BridgeClosed, RuntimeBridge
from tui.chat_history import ChatHistory, entries_from_hop
from tui.hop_filter import FilterError, parse_filter
from tui.masking import Masker


def _hop(**fields) -> Hop:
    base = {"seq": 1, "trace_id": "t", "kind": "service", "source": "mcp-server",
            "target": "records", "summary": "GET /expenses", "user": "alice"}
    return Hop(**{**base, **fields})


def test_filter_matches_kind_status_user_and_text():
    hop = _hop(status=403, response_body="denied by policy")
    assert parse_filter("kind:service,opa status:4xx user:alice policy").matches(hop)
    assert not parse_filter("status:ok").matches(hop)
    assert parse_filter("status:err").matches(hop)
    assert not parse_filter("user:dave").matches(hop)
    assert not parse_filter("kind:idp").matches(hop)


@pytest.mark.parametrize("term", ["kind:nope", "status:4x", "kind:"])
def test_filter_rejects_terms_it_cannot_use(term):
    with pytest.raises(FilterError):
        parse_filter(term)


def test_demo_api_keys_and_passwords_are_masked_until_revealed():
    text = 'x-api-key: ak_alice_0123456789 password=hunter2 {"client_secret": "s3"}'
    masked = Masker().text(text)
    assert "0123456789" not in masked and "hunter2" not in masked and "s3" not in masked
    assert Masker(reveal=True).text(text) == text


@pytest.mark.parametrize("secret", ['a\\"b tail', 'x\\\\ tail', '\\u0022 tail'])
def test_a_json_secret_is_masked_whole_whatever_it_escapes(secret):
    text = '{"api_key": "' + secret + '", "kind": "expenses"}'
    masked = Masker().text(text)
    assert "tail" not in masked and masked.endswith('"kind": "expenses"}')


def test_stable_mode_hides_ports_and_random_ids():
    masker = Masker(stable=True)
    assert masker.text("http://127.0.0.1:43817/x") == "http://127.0.0.1:PORT/x"
    assert masker.claim("jti", "abc") == "(random)"
    assert masker.duration(12.3) == "·ms"


def test_tool_call_hop_becomes_an_inline_chat_entry():
    body = json.dumps({"jsonrpc": "2.0", "method": "tools/call",
                       "params": {"name": "read_data", "arguments": {"kind": "expenses"}}})
    answer = "event: message\ndata: " + json.dumps(
        {"result": {"content": [{"type": "text", "text": '{"expenses": []}'}]}})
    hop = _hop(kind="mcp", summary="tools/call read_data", request_body=body,
               response_body=answer, status=200)
    [entry] = entries_from_hop(hop)
    assert entry.kind == "tool" and entry.who == 'read_data(kind="expenses")' and entry.ok


def test_a_tool_call_the_agent_refused_shows_as_a_failed_tool_entry():
    gate = {"reason": "arguments rejected: a JSON array, not an object",
            "decided_by": "runtime", "tool": "read_data"}
    [entry] = entries_from_hop(_hop(kind="audit", source="agent", target="gate", status=400,
                                    summary="DENY at the agent", data={"gate": gate}))
    assert (entry.kind, entry.who, entry.ok) == ("tool", "read_data(refused by the agent)",
                                                 False)
    assert entry.text == gate["reason"]


def test_attacker_hops_are_marked_as_the_attacker():
    [entry] = entries_from_hop(_hop(kind="attacker", summary="replays a token"))
    assert entry.kind == "attacker"


def test_chat_history_is_kept_per_pattern_and_user():
    history = ChatHistory()
    [entry] = entries_from_hop(_hop(kind="prompt", request_body="hi"))
    history.add(("p01", "alice"), entry)
    assert history.get(("p01", "alice")) == [entry]
    assert history.get(("p02", "alice")) == []


async def test_bridge_runs_coroutines_on_its_own_thread_and_closes():
    bridge = RuntimeBridge().start()

    async def where() -> str:
        return threading.current_thread().name

    assert await bridge.call(where()) == "agent-auth-runtime"
    await bridge.aclose(asyncio.sleep(0))
    with pytest.raises(BridgeClosed):
        await bridge.call(where())


def test_the_scoreboard_marks_a_column_that_differs_from_the_contract():
    from tui.widgets.scoreboard_table import column_text

    assert column_text("p06", 0, "OPA").plain == "OPA"
    marked = column_text("p06", 0, "service")
    assert marked.plain == "service ✗ (expected OPA)" and "bold" in str(marked.style)
    assert column_text("p07", 1, "yes (JWT)").plain.endswith("(expected yes (delegated JWT))")


def test_filter_terms_can_be_negated_and_have_alternatives():
    opa = _hop(kind="opa", status=200, user="bob", summary="decide agentauth/rbac")
    llm = _hop(kind="llm", status=200, user="alice", summary="POST /v1/chat/completions")
    denied = _hop(status=403, user="dave", response_body="denied by policy")
    hops = [opa, llm, denied]

    def kept(text: str) -> list[Hop]:
        return [h for h in hops if parse_filter(text).matches(h)]

    assert kept("!kind:llm") == [opa, denied]
    assert kept("kind:opa|llm") == [opa, llm] == kept("kind:opa,llm")
    assert kept("user:bob|dave") == [opa, denied]
    assert kept("!user:bob|dave") == [llm]
    assert kept("status:401|403") == [denied] == kept("!status:ok")
    assert kept("rbac|policy") == [opa, denied]
    assert kept("!policy") == [opa, llm]
    assert kept("!kind:llm !status:err") == [opa]


@pytest.mark.parametrize(("term", "message"), [
    ("!", "'!' alone"),
    ("kind:opa|", "an empty alternative"),
    ("kind:opa|bogus", "unknown hop kind bogus"),
    ("status:4x|403", "status '4x'"),
    ("kind:!llm", "as in !kind:llm"),
    ("!!token", "as in !token"),
    ("a||b", "an empty alternative"),
])
def test_bad_negations_and_alternatives_say_what_is_wrong(term, message):
    with pytest.raises(FilterError, match=re.escape(message)):
        parse_filter(term)


def _screens_and_widgets() -> list[type]:
    import importlib
    import pkgutil

    from textual.dom import DOMNode

    import tui

    for module in pkgutil.walk_packages(tui.__path__, "tui."):
        importlib.import_module(module.name)
    found: list[type] = []
    todo: list[type] = [DOMNode]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("tui."):
                found.append(sub)
    return found


@pytest.mark.parametrize("cls", _screens_and_widgets(), ids=lambda c: c.__qualname__)
def test_no_key_is_bound_twice_on_one_screen_or_widget(cls):
    """Two bindings on one key: only one of them can ever run (R once both replayed a hop
    and reset the world; the reset won, silently)."""
    from collections import Counter

    from textual.binding import Binding

    keys = Counter()
    for entry in cls.__dict__.get("BINDINGS", []):
        binding = entry if isinstance(entry, Binding) else Binding(*entry)
        keys.update(k.strip() for k in binding.key.split(","))
    assert [k for k, n in keys.items() if n > 1] == []
