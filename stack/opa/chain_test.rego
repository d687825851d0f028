package agentauth.chain_test

import data.agentauth.chain
import data.agentauth.fixtures_test as f
import data.agentauth.retrieval

summarizer := {"sub": "8a1f6c1e-0000-4000-8000-0000005ab9e7", "client_id": "summarizer", "act": {"sub": f.agent_sa, "client_id": "agent"}}

task_token := object.union(f.via_agent(f.alice), {"scope": "profile email acme:read", "act": summarizer})

agent_token := object.union(f.via_agent(f.alice), {"scope": "profile email acme:read acme:write"})

test_a_read_only_task_reads_and_never_writes if {
	chain.decision.allow with input as f.request("read_expenses", task_token)
	not chain.decision.allow with input as f.request("post_note", task_token)
}

test_the_agent_with_both_scopes_is_judged_by_relationships if {
	chain.decision.allow with input as f.request("post_note", agent_token)
	not chain.decision.allow with input as f.request("approve_expense", agent_token)
}

test_prior_actors_do_not_change_the_decision if {
	other := object.union(task_token, {"act": {"sub": summarizer.sub, "client_id": "summarizer", "act": {"sub": "x", "client_id": "nobody"}}})
	d1 := chain.decision with input as f.request("post_note", task_token)
	d2 := chain.decision with input as f.request("post_note", other)
	d1 == d2
}

chunks := [
	{"id": "a", "document": 1, "visibility": "public"},
	{"id": "b", "document": 4, "visibility": "platform"},
	{"id": "c", "document": 6, "visibility": "admin"},
]

test_the_filter_shows_dave_public_and_platform_chunks if {
	f2 := retrieval.filter with input as {"token": f.via_agent(f.dave), "chunks": chunks}
	f2.visible == ["a", "b"]
}

test_the_filter_shows_alice_the_admin_chunk if {
	f2 := retrieval.filter with input as {"token": f.via_agent(f.alice), "chunks": chunks}
	f2.visible == ["a", "c"]
}
