"""EmbeddedOPA: OPA's REST shape, policy loading errors, Rego v1 enforcement, faults."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from stack.opa import (
    NO_INPUT,
    POLICY_DIR,
    REBAC_DECISION,
    EmbeddedOPA,
    PolicyEvalError,
    PolicyLoadError,
    PolicySet,
    embedded_problems,
    v1_problems,
)

DAVE = {"sub": "8a1f6c1e-0000-4000-8000-00000000da7e", "preferred_username": "dave",
        "role": "readonly", "azp": "mcp-server"}
READ_NOTES = {"action": "read_notes", "token": DAVE, "resource": {"type": "note"}}


@pytest.fixture(scope="module")
def shared_opa() -> EmbeddedOPA:
    opa = EmbeddedOPA()
    opa.load()
    return opa


@pytest_asyncio.fixture
async def client(shared_opa: EmbeddedOPA) -> AsyncIterator[httpx.AsyncClient]:
    shared_opa.fault = None
    transport = httpx.ASGITransport(app=shared_opa.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://opa") as c:
        yield c
    shared_opa.fault = None


def policy_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


GOOD = 'package demo\n\ndefault allow := false\n\nallow if input.user == "alice"\n'


# --- REST shape ------------------------------------------------------------------------------


async def test_post_returns_the_decision_as_result(client: httpx.AsyncClient) -> None:
    r = await client.post(f"/v1/data/{REBAC_DECISION}", json={"input": READ_NOTES})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {
        "result": {"allow": True, "reason": "read_notes: any user may read (dave has readonly)"}
    }


async def test_unknown_document_is_an_empty_object(client: httpx.AsyncClient) -> None:
    for path in ("agentauth/nope/decision", "agentauth/rebac/nope", "nope"):
        r = await client.post(f"/v1/data/{path}", json={"input": READ_NOTES})
        assert (r.status_code, r.json()) == (200, {}), path


async def test_path_below_a_decision_selects_a_field(client: httpx.AsyncClient) -> None:
    r = await client.post(f"/v1/data/{REBAC_DECISION}/allow", json={"input": READ_NOTES})
    assert r.json() == {"result": True}
    r = await client.post(f"/v1/data/{REBAC_DECISION}/allow/deeper", json={"input": READ_NOTES})
    assert r.json() == {}


async def test_data_json_is_served_at_the_data_root(client: httpx.AsyncClient) -> None:
    alice, bob = "8a1f6c1e-0000-4000-8000-00000000a11c", "8a1f6c1e-0000-4000-8000-000000000b0b"
    assert (await client.get(f"/v1/data/users/{alice}/reports_to")).json() == {"result": bob}
    root = (await client.get("/v1/data")).json()["result"]
    assert set(root) >= {"agentauth", "users", "agents"}
    assert "rbac_test" not in root["agentauth"]  # *_test.rego is not loaded


async def test_request_without_input_warns_like_opa(client: httpx.AsyncClient) -> None:
    for kwargs in ({"json": {}}, {"content": b""}):
        r = await client.post(f"/v1/data/{REBAC_DECISION}", **kwargs)
        body = r.json()
        assert r.status_code == 200
        assert body["warning"]["code"] == "api_usage_warning"
        assert body["result"]["allow"] is False


async def test_get_evaluates_without_input(client: httpx.AsyncClient) -> None:
    r = await client.get(f"/v1/data/{REBAC_DECISION}")
    assert r.status_code == 200
    assert r.json()["result"]["allow"] is False
    assert "warning" not in r.json()


@pytest.mark.parametrize(
    "body",
    [b"garbage", b'{"input": ', b"[1, 2]", b'"text"', b'{"input": NaN}', b"\xff\xfe"],
    ids=["garbage", "truncated", "array", "string", "nan", "not-utf8"],
)
async def test_malformed_body_is_400_invalid_parameter(
    client: httpx.AsyncClient, body: bytes
) -> None:
    r = await client.post(f"/v1/data/{REBAC_DECISION}", content=body)
    assert r.status_code == 400
    doc = r.json()
    assert doc["code"] == "invalid_parameter"
    assert doc["message"].startswith("body contains malformed input document")


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v2/data/x")).status_code == 404
    assert (await client.put(f"/v1/data/{REBAC_DECISION}", json={})).status_code == 405


async def test_health_is_an_empty_object(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert (r.status_code, r.json()) == (200, {})


async def test_metrics_report_timings_when_asked(client: httpx.AsyncClient) -> None:
    url = f"/v1/data/{REBAC_DECISION}"
    assert "metrics" not in (await client.post(url, json={"input": READ_NOTES})).json()
    for query in ("?metrics=true", "?metrics"):
        metrics = (await client.post(url + query, json={"input": READ_NOTES})).json()["metrics"]
        assert metrics["timer_rego_query_eval_ns"] > 0
        assert metrics["timer_server_handler_ns"] >= metrics["timer_rego_query_eval_ns"]


async def test_pretty_output_is_indented(client: httpx.AsyncClient) -> None:
    r = await client.post(f"/v1/data/{REBAC_DECISION}?pretty=true", json={"input": READ_NOTES})
    assert r.text.startswith('{\n  "result"')


async def test_input_of_one_request_never_leaks_into_the_next(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/v1/data/agentauth/common/user", json={"input": READ_NOTES})
    assert r.json() == {"result": DAVE["sub"]}
    assert (await client.get("/v1/data/agentauth/common/user")).json() == {"result": ""}
    assert (await client.post("/v1/data/agentauth/common/user", json={})).json()["result"] == ""
    # and through the slow path (a query outside the precompiled entry points)
    assert (await client.get("/v1/data")).json()["result"]["agentauth"]["common"]["user"] == ""


async def test_non_ascii_input_round_trips(client: httpx.AsyncClient) -> None:
    token = {"sub": 'zoë "q" 😀', "role": "readonly", "azp": "x"}
    r = await client.post("/v1/data/agentauth/common/user", json={"input": {"token": token}})
    assert r.json() == {"result": token["sub"]}


async def test_concurrent_requests_get_their_own_decisions(client: httpx.AsyncClient) -> None:
    users = ["alice", "bob", "dave"] * 20

    async def ask(user: str) -> str:
        doc = {"input": {"token": {"sub": user}}}
        return (await client.post("/v1/data/agentauth/common/user", json=doc)).json()["result"]

    assert await asyncio.gather(*(ask(u) for u in users)) == users


async def test_served_on_an_ephemeral_loopback_port() -> None:
    async with EmbeddedOPA() as first, EmbeddedOPA() as second:
        assert first.base_url.startswith("http://127.0.0.1:")
        assert first.base_url != second.base_url
        async with httpx.AsyncClient() as c:
            r = await c.post(f"{first.base_url}/v1/data/{REBAC_DECISION}", json={"input": {}})
            assert r.json()["result"]["allow"] is False
    assert not first.running
    with pytest.raises(RuntimeError, match="not started"):
        _ = first.base_url


# --- Python API --------------------------------------------------------------------------------


def test_evaluate_accepts_slash_and_dotted_paths(shared_opa: EmbeddedOPA) -> None:
    a = shared_opa.evaluate("agentauth/rebac/decision", READ_NOTES)
    b = shared_opa.evaluate("data.agentauth.rebac.decision", READ_NOTES)
    assert a.defined and a.value == b.value
    assert shared_opa.decide("agentauth/nope", READ_NOTES) is None
    assert shared_opa.evaluate("agentauth/common/user", NO_INPUT).value == ""


# --- loading -------------------------------------------------------------------------------------


def test_default_policy_dir_is_the_stack_opa_folder() -> None:
    assert EmbeddedOPA().policy_dir == POLICY_DIR
    assert (POLICY_DIR / "rebac.rego").is_file()
    assert (POLICY_DIR / "data.json").is_file()


async def test_broken_rego_fails_start_with_the_file_and_line(tmp_path: Path) -> None:
    folder = policy_dir(tmp_path, {"ok.rego": GOOD, "broken.rego": "package b\n\np := {\n"})
    opa = EmbeddedOPA(folder)
    with pytest.raises(PolicyLoadError) as info:
        await opa.start()
    err = info.value
    assert err.file.endswith("broken.rego")
    assert err.line is not None and err.line >= 3
    assert "broken.rego" in str(err)
    assert not opa.running


def test_rego_error_location_counts_characters_not_bytes(tmp_path: Path) -> None:
    src = "package b\n\n# “quotes” — é\np := 1 +\n"
    with pytest.raises(PolicyLoadError) as info:
        EmbeddedOPA(policy_dir(tmp_path, {"b.rego": src})).load()
    assert info.value.line == 4


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("package v0\n\nallow {\n  true\n}\n", "`if` keyword is required before rule body"),
        ('package v0\n\ndeny[msg] {\n  msg := "x"\n}\n', "`if` keyword is required"),
        ('package v0\n\ndeny["x"]\n', "`contains` keyword is required for partial set rules"),
        ("package v0\n\nf(x) {\n  x\n}\n", "`if` keyword is required before function body"),
        ("package v0\n\np := 1 if {\n  false\n} else {\n  true\n}\n", "`if` keyword"),
        ("package v0\n\np := any([true])\n", "deprecated built-in function calls"),
        ("package v0\n\ninput := 1\n", "rules must not shadow input"),
    ],
    ids=["body", "partial-set", "bare-partial-set", "function", "else", "deprecated", "shadow"],
)
def test_rego_v0_is_rejected_with_opa_s_message(tmp_path: Path, src: str, message: str) -> None:
    with pytest.raises(PolicyLoadError) as info:
        EmbeddedOPA(policy_dir(tmp_path, {"legacy.rego": src})).load()
    err = info.value
    assert err.file.endswith("legacy.rego")
    assert message in err.message
    assert err.line is not None and err.line >= 3


@pytest.mark.parametrize(
    "src",
    [
        '# allow { true }\np := "deny[msg] { }"\n',
        "p := `raw {\n not a body }`\n",
        'p := {\n  "a": {"b": 1},\n}\n',
        'deny contains msg if {\n  msg := "x"\n}\n',
        "p := x if {\n  x := 1\n} else := 2\n",
        "p := 1 if {\n  false\n}\n\nelse := 2\n",
        "f(x) := y if {\n  y := x + 1\n}\n",
        'p if input.a == {"k": 1}\n',
        "q := {y | some y in [1, 2]}\n",
        "p.q.r := 1\n",
        "import rego.v1\n\np if true\n",
    ],
)
def test_rego_v1_constructs_are_accepted(src: str) -> None:
    assert v1_problems("package t\n\n" + src) == []


def test_with_is_refused_outside_test_files(tmp_path: Path) -> None:
    src = GOOD + '\nprobe if {\n  allow with input as {"user": "alice"}\n}\n'
    with pytest.raises(PolicyLoadError, match="`with` is not supported"):
        EmbeddedOPA(policy_dir(tmp_path, {"demo.rego": src})).load()
    assert embedded_problems('package t\n\n# with input\np := "with"\n') == []


def test_test_files_are_not_loaded(tmp_path: Path) -> None:
    test_src = "package demo_test\n\ntest_x if {\n  data.demo.allow with input as {}\n}\n"
    folder = policy_dir(tmp_path, {"demo.rego": GOOD, "demo_test.rego": test_src})
    opa = EmbeddedOPA(folder)
    opa.load()
    assert opa.evaluate("demo/allow", {"user": "alice"}).value is True
    assert not opa.evaluate("demo_test").defined


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('{"users": {"alice": }}', "invalid JSON", 1),
        ('{\n  "users": {},\n  "agents": [1,]\n}', "invalid JSON", 3),
        ("[1, 2]", "must hold a JSON object", None),
        ('{"n": NaN}', "invalid JSON", None),
    ],
)
def test_bad_data_json_fails_load_with_the_file(
    tmp_path: Path, text: str, message: str, line: int | None
) -> None:
    folder = policy_dir(tmp_path, {"demo.rego": GOOD, "data.json": text})
    with pytest.raises(PolicyLoadError) as info:
        EmbeddedOPA(folder).load()
    err = info.value
    assert err.file.endswith("data.json")
    assert message in err.message
    if line is not None:
        assert err.line == line


def test_nested_data_json_lands_under_its_folder(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path, {"demo.rego": GOOD, "data.json": '{"a": 1}', "org/data.json": '{"b": 2}'}
    )
    opa = EmbeddedOPA(folder)
    assert opa.evaluate("a").value == 1
    assert opa.evaluate("org/b").value == 2


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no .rego policy files"),
        ({"demo.rego": "package demo\n\np := nope(1)\n"}, "Function not found: nope"),
        ({"demo.rego": "allow if true\n"}, "package"),
    ],
    ids=["empty", "unknown-function", "no-package"],
)
def test_unusable_policy_sets_fail_load(tmp_path: Path, files: dict, message: str) -> None:
    with pytest.raises(PolicyLoadError, match=message):
        EmbeddedOPA(policy_dir(tmp_path, files)).load()


def test_missing_policy_folder_fails_load(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match="policy folder not found"):
        EmbeddedOPA(tmp_path / "nowhere").load()


def test_failed_reload_keeps_the_previous_policy(tmp_path: Path) -> None:
    opa = EmbeddedOPA(policy_dir(tmp_path / "good", {"demo.rego": GOOD}))
    opa.load()
    bad = policy_dir(tmp_path / "bad", {"demo.rego": "package demo\n\nallow { true }\n"})
    with pytest.raises(PolicyLoadError):
        opa.reload(bad)
    assert opa.evaluate("demo/allow", {"user": "alice"}).value is True
    assert opa.evaluate("demo/allow", {"user": "bob"}).value is False


async def test_use_replaces_the_policy_set_in_memory(client: httpx.AsyncClient) -> None:
    opa = EmbeddedOPA()
    opa.use({"x.rego": "package x\n\nanswer := input.n * 2\n"}, {"k": "v"})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=opa.app), base_url="http://o"
    ) as c:
        assert (await c.post("/v1/data/x/answer", json={"input": {"n": 21}})).json() == {
            "result": 42
        }
        assert (await c.get("/v1/data/k")).json() == {"result": "v"}
    with pytest.raises(PolicyLoadError, match="x.rego"):
        opa.use(PolicySet.from_sources({"x.rego": "package x\n\np { true }\n"}))


async def test_evaluation_error_is_500_internal_error(tmp_path: Path) -> None:
    src = "package c\n\np := input.a\n\np := input.b\n"
    opa = EmbeddedOPA(policy_dir(tmp_path, {"c.rego": src}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=opa.app), base_url="http://o"
    ) as c:
        ok = await c.post("/v1/data/c/p", json={"input": {"a": 1, "b": 1}})
        assert ok.json() == {"result": 1}
        r = await c.post("/v1/data/c/p", json={"input": {"a": 1, "b": 2}})
    assert r.status_code == 500
    assert r.json()["code"] == "internal_error"
    assert "multiple outputs" in r.json()["message"]
    with pytest.raises(PolicyEvalError):
        opa.evaluate("c/p", {"a": 1, "b": 2})


# --- faults ---------------------------------------------------------------------------------


async def test_fault_error_answers_500(client: httpx.AsyncClient, shared_opa: EmbeddedOPA) -> None:
    shared_opa.fault = "error"
    r = await client.post(f"/v1/data/{REBAC_DECISION}", json={"input": READ_NOTES})
    assert r.status_code == 500 and r.json()["code"] == "internal_error"
    assert (await client.get("/health")).status_code == 200


async def test_fault_undefined_answers_empty(
    client: httpx.AsyncClient, shared_opa: EmbeddedOPA
) -> None:
    shared_opa.fault = "undefined"
    r = await client.post(f"/v1/data/{REBAC_DECISION}", json={"input": READ_NOTES})
    assert (r.status_code, r.json()) == (200, {})


async def test_fault_slow_delays_then_answers(
    client: httpx.AsyncClient, shared_opa: EmbeddedOPA
) -> None:
    shared_opa.fault = "slow"
    shared_opa.slow_seconds = 0.3
    started = time.perf_counter()
    r = await client.post(f"/v1/data/{REBAC_DECISION}", json={"input": READ_NOTES})
    assert time.perf_counter() - started >= 0.3
    assert r.json()["result"]["allow"] is True


async def test_fault_slow_lets_a_client_time_out() -> None:
    async with EmbeddedOPA(slow_seconds=0.5) as opa:
        opa.fault = "slow"
        async with httpx.AsyncClient(timeout=0.1) as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.post(f"{opa.base_url}/v1/data/{REBAC_DECISION}", json={"input": {}})
        opa.fault = None
        async with httpx.AsyncClient(timeout=2) as c:
            r = await c.post(f"{opa.base_url}/v1/data/{REBAC_DECISION}", json={"input": {}})
            assert r.status_code == 200


async def test_clearing_the_fault_restores_decisions(
    client: httpx.AsyncClient, shared_opa: EmbeddedOPA
) -> None:
    shared_opa.fault = "error"
    shared_opa.fault = None
    r = await client.post(f"/v1/data/{REBAC_DECISION}", json={"input": READ_NOTES})
    assert r.json()["result"]["allow"] is True
    assert json.loads(r.text)
