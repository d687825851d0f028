import base64
import json

from runtime.tokens import claims_diff, decode_unverified, find_tokens
from runtime.wire import (
    REDACTED,
    Hop,
    HopLog,
    Redactor,
    WireTap,
    current_trace,
    current_user,
    hop_size,
    new_trace_id,
    trace_from_traceparent,
    traceparent,
    tracing,
)


def _jwt(claims: dict, header: dict | None = None) -> str:
    def seg(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{seg(header or {'alg': 'RS256', 'typ': 'JWT'})}.{seg(claims)}.c2lnbmF0dXJl"


def test_hops_carry_the_current_trace_id_and_reach_listeners():
    tap = WireTap()
    seen = []
    unsubscribe = tap.subscribe(seen.append)
    trace = new_trace_id()
    with tracing(trace, "alice"):
        hop = tap.record("prompt", "alice", "agent", "What are my expenses?")
    assert hop.trace_id == trace and hop.user == "alice"
    assert (current_trace(), current_user()) == ("", "")    # restored on the way out
    assert seen == [hop]
    unsubscribe()
    tap.record("answer", "agent", "alice", "done")
    assert len(seen) == 1
    assert [h.seq for h in tap.hops] == [1, 2]


def test_provider_keys_are_redacted_but_demo_tokens_are_shown():
    real_key = "sk-proj-abcdefghijklmnopqrstuvwxyz123456"
    tap = WireTap(Redactor((real_key,)))
    demo = _jwt({"sub": "alice", "aud": "records-service"})
    hop = tap.record(
        "llm", "agent", "llm", "chat",
        request_headers=(("authorization", f"Bearer {real_key}"),),
        request_body=json.dumps({"token": demo, "other": "sk-live-ABCDEFGHIJKLMNOPQRSTUV"}),
    )
    assert real_key not in repr(hop)
    assert hop.request_headers[0][1] == f"Bearer {REDACTED}"
    assert demo in hop.request_body
    assert hop.tokens and hop.tokens[0].claims["sub"] == "alice"


def test_unrelated_provider_looking_keys_are_redacted_even_when_not_configured():
    redact = Redactor()
    assert REDACTED in redact("key sk-abcdefghijklmnopqrstuvwx in text")
    assert redact("ak_alice_0123456789") == "ak_alice_0123456789"


def test_traceparent_round_trip_and_garbage():
    trace = new_trace_id()
    assert trace_from_traceparent(traceparent(trace)) == trace
    assert trace_from_traceparent("garbage") == ""
    assert trace_from_traceparent(None) == ""
    assert trace_from_traceparent("00-XYZ-1-01") == ""


def test_decode_unverified_never_raises_on_garbage():
    assert decode_unverified("not.a.jwt") is None
    assert decode_unverified("a" * 20000) is None
    assert decode_unverified("eyJhbGciOiJub25lIn0.bm90anNvbg.") is None
    token = _jwt({"sub": "x", "act": {"sub": "agent"}, "cnf": {"jkt": "abc"}})
    decoded = decode_unverified(token)
    assert decoded is not None and "act=agent" in decoded.label and "bound" in decoded.label


def test_find_tokens_deduplicates_and_labels_dpop_proofs():
    proof = _jwt({"htm": "GET"}, {"typ": "dpop+jwt", "alg": "ES256"})
    found = find_tokens(f"{proof} and again {proof}")
    assert len(found) == 1 and found[0].kind == "DPoP proof"


def test_claims_diff_shows_what_an_exchange_changed():
    before = {"aud": ["mcp-server", "records-service"], "azp": "explorer-cli", "sub": "a"}
    after = {"aud": "records-service", "azp": "mcp-server", "sub": "a", "act": {"sub": "agent"}}
    rows = {row[0]: row[1] for row in claims_diff(before, after)}
    assert rows == {"act": "added", "aud": "changed", "azp": "changed"}


def _hop(seq: int, body: str = "", trace: str = "t") -> Hop:
    return Hop(seq=seq, trace_id=trace, kind="mcp", source="client", target="mcp-server",
               summary=f"POST /mcp #{seq}", request_body=body)


def test_the_hop_log_drops_its_oldest_quarter_past_its_count_and_keeps_the_order():
    log = HopLog(max_hops=8, max_bytes=10**9)
    dropped = [log.append(_hop(n)) for n in range(1, 21)]
    assert len(log) <= 8 and log.dropped == 20 - len(log) == sum(dropped)
    assert [h.seq for h in log] == list(range(21 - len(log), 21))   # the newest, in order
    assert log[-1].seq == 20 and [h.seq for h in log[:2]] == [21 - len(log), 22 - len(log)]


def test_the_hop_log_is_bounded_in_size_whatever_the_count():
    big = "x" * 10_000
    log = HopLog(max_hops=10**6, max_bytes=50_000)
    for n in range(1, 101):
        log.append(_hop(n, big))
        assert log.size <= 50_000 + hop_size(_hop(n, big))
    assert log.size == sum(hop_size(h) for h in log) <= 50_000
    assert log.dropped == 100 - len(log) and log[-1].seq == 100


def test_a_hop_larger_than_the_whole_budget_is_still_kept_as_the_newest():
    log = HopLog([_hop(1)], max_hops=10, max_bytes=1_000)
    log.append(_hop(2, "y" * 5_000))
    assert [h.seq for h in log] == [2] and log.dropped == 1


def test_the_tap_forgets_the_users_of_traces_whose_hops_were_all_dropped(monkeypatch):
    monkeypatch.setattr("runtime.wire.HOP_LOG_HOPS", 40)
    tap = WireTap()
    for n in range(200):   # a new trace, and its user, per request: a flood from outside
        with tracing(f"{n:032x}", f"user{n}"):
            tap.record("mcp", "client", "mcp-server", "POST /mcp")
    assert len(tap.hops) <= 40 and tap.hops.dropped == 200 - len(tap.hops)
    assert set(tap._trace_users) == {h.trace_id for h in tap.hops}
