"""Patterns 09 and 10's policies (stack/opa/chain.rego, retrieval.rego), through the
embedded OPA: the granted scope gates every action, prior actors never change a decision
(RFC 8693 section 4.1), and the retrieval filter answers for every chunk in one decision."""

from __future__ import annotations

from typing import Any

import pytest

from stack.opa import CHAIN_DECISION, REBAC_DECISION, RETRIEVAL_FILTER, EmbeddedOPA

AGENT = {"sub": "8a1f6c1e-0000-4000-8000-0000000a9e17", "client_id": "agent"}
SUMMARIZER = {"sub": "8a1f6c1e-0000-4000-8000-0000005ab9e7", "client_id": "summarizer"}
PEOPLE = {
    "alice": ("8a1f6c1e-0000-4000-8000-00000000a11c", "admin"),
    "bob": ("8a1f6c1e-0000-4000-8000-000000000b0b", "user"),
    "dave": ("8a1f6c1e-0000-4000-8000-00000000da7e", "readonly"),
}
READS = ("read_expenses", "read_documents", "read_notes", "search")
WRITES = ("submit_expense", "post_note", "list_users", "approve_expense", "set_role",
          "disable_user")
CHUNKS = [{"id": f"doc{n}#0", "document": n, "visibility": v} for n, v in
          enumerate(("public", "public", "engineering", "platform", "platform", "admin"), 1)]


@pytest.fixture(scope="module")
def opa() -> EmbeddedOPA:
    engine = EmbeddedOPA()
    engine.load()
    return engine


def token(user: str, scope: str, act: dict[str, Any] | None = AGENT) -> dict[str, Any]:
    sub, role = PEOPLE[user]
    claims = {"sub": sub, "preferred_username": user, "role": role, "azp": "mcp-server",
              "aud": "records-service", "scope": scope}
    if act is not None:
        claims["act"] = act
    return claims


def decide(opa: EmbeddedOPA, path: str, input_doc: dict[str, Any]) -> Any:
    result = opa.evaluate(path, input_doc)
    assert result.defined, f"{path} undefined for {input_doc}"
    return result.value


def request(action: str, tok: dict[str, Any]) -> dict[str, Any]:
    resource = {"type": "expense", "id": 4, "owner": PEOPLE["alice"][0]} \
        if "expense" in action else {"type": "user", "id": "bob"}
    return {"action": action, "token": tok, "resource": resource}


@pytest.mark.parametrize("user", sorted(PEOPLE))
@pytest.mark.parametrize("action", READS + WRITES)
def test_with_both_task_scopes_the_chain_policy_is_the_relationship_policy(opa, user, action):
    tok = token(user, "profile email acme:read acme:write")
    assert (decide(opa, CHAIN_DECISION, request(action, tok))
            == decide(opa, REBAC_DECISION, request(action, tok)))


@pytest.mark.parametrize("action", WRITES)
def test_a_read_only_task_token_never_writes(opa, action):
    tok = token("alice", "profile email acme:read", act=SUMMARIZER | {"act": AGENT})
    d = decide(opa, CHAIN_DECISION, request(action, tok))
    assert d["allow"] is False
    assert d["reason"].startswith(f"{action} needs scope acme:write")


@pytest.mark.parametrize("action", READS)
def test_a_read_only_task_token_reads(opa, action):
    tok = token("alice", "profile email acme:read", act=SUMMARIZER | {"act": AGENT})
    assert decide(opa, CHAIN_DECISION, request(action, tok))["allow"] is True


@pytest.mark.parametrize("action", READS + WRITES)
def test_without_any_task_scope_nothing_is_allowed(opa, action):
    d = decide(opa, CHAIN_DECISION, request(action, token("alice", "profile email")))
    assert d["allow"] is False and "needs scope acme:" in d["reason"]


@pytest.mark.parametrize("prior", [None, AGENT, {"sub": "someone-else", "client_id": "x"},
                                   SUMMARIZER | {"act": AGENT}])
@pytest.mark.parametrize("action", READS + WRITES)
def test_prior_actors_are_informational_only(opa, prior, action):
    """RFC 8693 4.1: whatever the nested `act.act` says, the decision is the same."""
    current = dict(SUMMARIZER)
    if prior is not None:
        current["act"] = prior
    plain = decide(opa, CHAIN_DECISION,
                   request(action, token("bob", "acme:read acme:write", act=SUMMARIZER)))
    chained = decide(opa, CHAIN_DECISION,
                     request(action, token("bob", "acme:read acme:write", act=current)))
    assert chained == plain


@pytest.mark.parametrize(("user", "visible"), [
    ("alice", {"doc1#0", "doc2#0", "doc3#0", "doc6#0"}),   # admin, engineering
    ("bob", {"doc1#0", "doc2#0", "doc3#0"}),               # user, engineering
    ("dave", {"doc1#0", "doc2#0", "doc4#0", "doc5#0"}),    # readonly, platform
])
def test_the_retrieval_filter_lets_through_what_each_user_may_read(opa, user, visible):
    answer = decide(opa, RETRIEVAL_FILTER, {"token": token(user, "acme:read"),
                                            "chunks": CHUNKS})
    assert set(answer["visible"]) == visible
    assert answer["reason"].startswith(f"{len(visible)} of 6 chunks visible to {user}")


def test_the_retrieval_filter_is_one_decision_for_a_large_index(opa):
    chunks = [{"id": f"c{i}", "document": i, "visibility": ("public", "admin")[i % 2]}
              for i in range(2000)]
    answer = decide(opa, RETRIEVAL_FILTER, {"token": token("dave", "acme:read"),
                                            "chunks": chunks})
    assert len(answer["visible"]) == 1000 and all(int(c[1:]) % 2 == 0
                                                  for c in answer["visible"])


def test_the_retrieval_filter_shows_nothing_to_nobody(opa):
    result = opa.evaluate(RETRIEVAL_FILTER, {"token": {}, "chunks": CHUNKS})
    assert not result.defined    # the preset reads undefined as: nothing visible


def test_a_chunk_without_an_id_or_a_known_visibility_is_not_shown(opa):
    odd = [{"document": 9, "visibility": "public"}, {"id": "x#0", "visibility": "secret"},
           {"id": "y#0"}]
    answer = decide(opa, RETRIEVAL_FILTER, {"token": token("alice", "acme:read"),
                                            "chunks": odd})
    assert answer["visible"] == []
