"""What a learner reads in the wire for A8 and A9 (issue 19): the nested actor chain and the
narrowed scope of the summarizer's token, why the IdP allowed each exchange, and the one OPA
filter decision per search under p10 (none under p09)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest_asyncio

from runtime.runner import PatternRunner
from runtime.stack_handle import StackHandle
from runtime.wire import Hop
from stack.idp.exchange import EXPLANATION_HEADER

RETRIEVAL_PATH = "/v1/data/agentauth/retrieval/filter"


@pytest_asyncio.fixture
async def p09(stack: StackHandle) -> AsyncIterator[PatternRunner]:
    async with PatternRunner("p09", stack=stack) as runner:
        yield runner


@pytest_asyncio.fixture
async def p10(stack: StackHandle) -> AsyncIterator[PatternRunner]:
    async with PatternRunner("p10", stack=stack) as runner:
        yield runner


def _hops(runner: PatternRunner, trace_ids: set[str]) -> list[Hop]:
    return [h for h in runner.tap.hops if h.trace_id in trace_ids]


def _header(hop: Hop, name: str) -> str | None:
    return next((v for k, v in hop.response_headers if k.lower() == name.lower()), None)


async def test_a8_under_p09_shows_the_nested_chain_and_the_narrowed_scope(p09):
    step = await p09.run_step("A8")
    hops = _hops(p09, step.trace_ids)
    audits = [h for h in hops if h.kind == "audit" and h.source == "records"]
    assert audits, "the summarizer reached the records service"
    for hop in audits:
        identity = hop.data["identity"]
        assert identity["actor"] == "summarizer" and identity["prior_actors"] == ["agent"]
        act = identity["claims"]["act"]
        assert act["client_id"] == "summarizer" and act["act"]["client_id"] == "agent"
        assert "acme:read" in identity["claims"]["scope"].split()
        assert "acme:write" not in identity["claims"]["scope"].split()
    refused = [h for h in audits if h.status == 403]
    assert len(refused) == 1 and "post_note" in refused[0].summary
    assert "summarizer, delegated by agent" in refused[0].summary


async def test_a8_under_p09_shows_at_the_idp_why_each_exchange_was_allowed(p09):
    step = await p09.run_step("A8")
    exchanges = [h for h in _hops(p09, step.trace_ids)
                 if h.kind == "idp" and "token-exchange" in h.summary]
    by_client = {h.source: _header(h, EXPLANATION_HEADER) for h in exchanges}
    assert "may_act" in (by_client["agent"] or "")
    assert "chain summarizer <- agent is 2 of at most 2 actors" in (by_client["summarizer"] or "")
    assert "kept the subject's delegation chain" in (by_client["mcp-server"] or "")


async def test_a8_under_p08_hands_the_summarizer_the_agents_own_credentials(stack):
    async with PatternRunner("p08", stack=stack) as p08:
        step = await p08.run_step("A8")
        hops = _hops(p08, step.trace_ids)
    posted = [h for h in hops if h.kind == "audit" and h.source == "records"
              and "post_note" in h.summary]
    assert posted and posted[-1].status == 200
    assert posted[-1].data["identity"]["actor"] == "agent"        # the summarizer is invisible
    told = [_header(h, EXPLANATION_HEADER) or "" for h in hops]
    assert not any("summarizer" in why for why in told)     # no hand-off was ever made


async def test_a9_under_p10_is_one_opa_filter_decision_over_every_chunk(p10):
    step = await p10.run_step("A9")
    hops = _hops(p10, step.trace_ids)
    filters = [h for h in hops if h.kind == "opa" and h.url.endswith(RETRIEVAL_PATH)]
    assert len(filters) == 1                      # one round trip, not one per chunk
    sent = json.loads(filters[0].request_body)["input"]["chunks"]
    assert len(sent) == len({c["id"] for c in sent}) > 1
    assert {"id", "document", "visibility"} == set(sent[0])
    visible = json.loads(filters[0].response_body)["result"]["visible"]
    admin = {c["id"] for c in sent if c["visibility"] == "admin"}
    assert admin and not admin & set(visible)
    searched = [h for h in hops if h.kind == "service" and h.target == "knowledge"]
    assert searched and "Admin credentials policy" not in searched[-1].response_body


async def test_a9_under_p09_ranks_every_chunk_and_quotes_the_admin_document(p09):
    step = await p09.run_step("A9")
    hops = _hops(p09, step.trace_ids)
    assert not [h for h in hops if h.kind == "opa" and h.url.endswith(RETRIEVAL_PATH)]
    searched = [h for h in hops if h.kind == "service" and h.target == "knowledge"]
    assert searched and "Admin credentials policy" in searched[-1].response_body
    retrieval = [r for r in p09.world.audit if r.action == "retrieve"]
    assert retrieval and retrieval[-1].decided_by == "nobody"
