"""The tool services: seed data, filtering by identity, 401/403 bodies, the audit log."""

import httpx
import pytest

from runtime.runner import PatternRunner
from runtime.services.world import INJECTION, World


def test_seed_data_matches_the_story():
    world = World.seed()
    assert len(world.expenses) == 8
    assert sorted(e.id for e in world.expenses.values() if e.owner == "alice") == [1, 4, 5, 7]
    four = world.expenses[4]
    assert (four.amount, four.currency, four.status) == (1450.0, "USD", "pending")
    assert "4K monitor" in four.description
    vendor = next(d for d in world.documents.values() if d.title == "Vendor onboarding notes")
    assert vendor.visibility == "public" and INJECTION in vendor.body
    assert {u: (v.role, v.department, v.reports_to) for u, v in world.users.items()} == {
        "alice": ("admin", "engineering", "bob"), "bob": ("user", "engineering", None),
        "dave": ("readonly", "platform", None)}
    assert set(world.api_keys.values()) == {"alice", "bob", "dave"}
    assert world.shared_key.startswith("sk_agent_")


def test_every_seed_has_fresh_keys():
    assert World.seed().key_for("alice") != World.seed().key_for("alice")


async def _get(runner: PatternRunner, path: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(runner.service_urls["records"] + path, headers=headers)


async def test_without_a_user_every_expense_is_returned(p01):
    response = await _get(p01, "/expenses")
    assert response.status_code == 200 and len(response.json()["expenses"]) == 8


async def test_a_known_user_sees_own_expenses_and_permitted_documents(stack):
    async with PatternRunner("p04", stack=stack) as runner:
        key = runner.world.key_for("dave")
        expenses = (await _get(runner, "/expenses", **{"X-API-Key": key})).json()["expenses"]
        docs = (await _get(runner, "/documents", **{"X-API-Key": key})).json()["documents"]
    assert {e["owner"] for e in expenses} == {"dave"}
    assert {d["visibility"] for d in docs} == {"public", "platform"}


async def test_missing_credential_is_a_401_with_www_authenticate(stack):
    async with PatternRunner("p05", stack=stack) as runner:
        response = await _get(runner, "/expenses")
    assert response.status_code == 401
    # no credential at all: a bare challenge, no error code (RFC 6750 section 3.1)
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] == {"error": "unauthorized", "reason": "no access token"}


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer a.b.c", "Bearer " + "x" * 9000])
async def test_bad_bearer_values_are_401_never_500(stack, header):
    async with PatternRunner("p05", stack=stack) as runner:
        response = await _get(runner, "/expenses", Authorization=header)
    assert response.status_code == 401


async def test_policy_denial_is_a_403_and_every_decision_is_audited(stack):
    async with PatternRunner("p04", stack=stack) as runner:
        async with httpx.AsyncClient() as http:
            response = await http.post(
                runner.service_urls["directory"] + "/users/bob/disable",
                headers={"X-API-Key": runner.world.key_for("dave")})
        audit = list(runner.world.audit)
    assert response.status_code == 403
    assert response.json()["detail"]["reason"] == "dave (readonly) may not disable_user"
    assert len(audit) == 1
    record = audit[0]
    assert (record.service, record.action, record.allowed, record.user, record.decided_by) == (
        "directory", "disable_user", False, "dave", "service")
    assert record.attributed_to == "dave"


async def test_a_body_that_is_not_json_is_400_and_an_invalid_one_422_never_500(p01):
    async with httpx.AsyncClient() as http:
        url = p01.service_urls["records"]
        bad_json = await http.post(url + "/notes", content=b"{nope",
                                   headers={"content-type": "application/json"})
        negative = await http.post(url + "/expenses", json={"amount": -5, "description": "x"})
        role = await http.post(p01.service_urls["directory"] + "/users/bob/role",
                               json={"role": "god"})
    assert bad_json.status_code == 400 and "not JSON" in bad_json.text
    assert {negative.status_code, role.status_code} == {422}


@pytest.mark.parametrize("body", [
    {"amount": True, "description": "a boolean is no amount"},
    {"amount": "12", "description": "a string is no number"},
    {"amount": 12, "description": ["a list is no text"]},
    {"amount": 12, "description": 12},
])
async def test_a_body_is_read_with_jsons_types_not_coerced(p01, body):
    async with httpx.AsyncClient() as http:
        response = await http.post(p01.service_urls["records"] + "/expenses", json=body)
    assert response.status_code == 422, response.text
    assert len(p01.world.expenses) == 8                 # nothing was submitted


async def test_a_json_integer_is_a_number(p01):
    async with httpx.AsyncClient() as http:
        response = await http.post(p01.service_urls["records"] + "/expenses",
                                   json={"amount": 12, "description": "an int is a number"})
    assert response.status_code == 201, response.text
    assert p01.world.expenses[9].amount == 12.0


async def test_unknown_expense_and_user_are_404_after_authorization(p01):
    async with httpx.AsyncClient() as http:
        expense = await http.post(p01.service_urls["records"] + "/expenses/99/approve")
        user = await http.post(p01.service_urls["directory"] + "/users/zed/disable")
    assert expense.status_code == 404 and user.status_code == 404


@pytest.mark.parametrize(("method", "service", "path", "body"), [
    ("POST", "records", "/notes", {"text": 5}),
    ("POST", "records", "/expenses", b"{not json"),
    ("POST", "records", "/expenses", {"amount": "NaN", "description": ""}),
    ("POST", "directory", "/users/bob/role", {"role": "root"}),
    ("POST", "records", "/expenses/x/approve", None),
])
async def test_an_unauthenticated_request_is_a_401_whatever_its_body(
        stack, method, service, path, body):
    async with PatternRunner("p05", stack=stack) as runner, httpx.AsyncClient() as client:
        kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
        response = await client.request(method, runner.service_urls[service] + path,
                                        headers={"Content-Type": "application/json"},
                                        **kwargs)
        audit = list(runner.world.audit)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert [(r.status, r.allowed) for r in audit] == [(401, False)]


async def test_an_authenticated_bad_body_is_a_422_with_the_field_named(stack):
    async with PatternRunner("p04", stack=stack) as runner, httpx.AsyncClient() as client:
        response = await client.post(runner.service_urls["records"] + "/notes",
                                     json={"text": 5},
                                     headers={"X-API-Key": runner.world.key_for("alice")})
    assert response.status_code == 422
    assert response.json()["detail"]["reason"].startswith("text:")


async def test_a_flood_of_refused_requests_keeps_the_audit_log_bounded(stack, monkeypatch):
    """Anyone on the host can reach a service on 127.0.0.1, and each refusal is audited: the
    log keeps its newest records, as the wire keeps its newest hops."""
    monkeypatch.setattr("runtime.services.world.MAX_AUDIT", 40)
    async with PatternRunner("p06", stack=stack) as runner, httpx.AsyncClient() as http:
        url = runner.service_urls["records"] + "/expenses"
        for n in range(100):
            response = await http.get(url, headers={"Authorization": f"Bearer junk{n}"})
            assert response.status_code == 401
        audit = runner.world.audit
        assert len(audit) <= 40 and audit.dropped == 100 - len(audit) > 0
        assert all(not r.allowed and r.status == 401 for r in audit)
