package agentauth.rebac_test

import data.agentauth.fixtures_test as f
import data.agentauth.rebac

decide(action, token) := d if {
	d := rebac.decision with input as f.request(action, token)
}

# Expected allow per user and action (patterns 07/08) for a delegated token (act = agent).
expected_delegated := {
	"alice": {
		"read_expenses": true, "submit_expense": true, "approve_expense": false,
		"read_documents": true, "read_notes": true, "post_note": true,
		"list_users": true, "set_role": false, "disable_user": false,
	},
	"bob": {
		"read_expenses": true, "submit_expense": true, "approve_expense": true,
		"read_documents": true, "read_notes": true, "post_note": true,
		"list_users": true, "set_role": false, "disable_user": false,
	},
	"dave": {
		"read_expenses": true, "submit_expense": false, "approve_expense": false,
		"read_documents": true, "read_notes": true, "post_note": false,
		"list_users": false, "set_role": false, "disable_user": false,
	},
}

# The human acting directly (explorer-cli, no act): only alice's admin actions change.
expected_direct := object.union(expected_delegated, {"alice": object.union(
	expected_delegated.alice,
	{"set_role": true, "disable_user": true},
)})

users := {"alice": f.alice, "bob": f.bob, "dave": f.dave}

test_every_user_and_action_when_delegated_through_the_agent if {
	every name, row in expected_delegated {
		every action, want in row {
			decide(action, f.via_agent(users[name])).allow == want
		}
	}
}

test_every_user_and_action_when_exchanged_by_the_mcp_server_without_act if {
	every name, row in expected_delegated {
		every action, want in row {
			decide(action, f.via_mcp(users[name])).allow == want
		}
	}
}

test_every_user_and_action_when_the_human_acts_directly if {
	every name, row in expected_direct {
		every action, want in row {
			decide(action, f.direct(users[name])).allow == want
		}
	}
}

test_the_tables_cover_every_action if {
	every name, row in expected_delegated {
		count(row) == count(f.all_actions)
		every action in f.all_actions {
			is_boolean(row[action])
			is_boolean(expected_direct[name][action])
		}
	}
}

test_bob_approves_alices_expense_because_he_manages_her if {
	d := decide("approve_expense", f.via_agent(f.bob))
	d.allow
	d.reason == "approve_expense: bob manages alice (alice reports_to bob)"
}

test_alice_cannot_approve_her_own_expense_despite_admin if {
	d := decide("approve_expense", f.via_agent(f.alice))
	not d.allow
	d.reason == "approve_expense: alice cannot approve their own expense"
}

test_dave_is_not_alices_manager if {
	d := decide("approve_expense", f.via_agent(f.dave))
	not d.allow
	d.reason == "approve_expense: dave is not alice's manager"
}

test_nobody_approves_for_a_user_outside_the_org_chart if {
	d := rebac.decision with input as {"action": "approve_expense", "token": f.via_agent(f.bob), "resource": {"type": "expense", "owner": "id-carol"}}
	not d.allow
	d.reason == "approve_expense: id-carol is not in the org chart (data.users)"
}

test_approval_without_an_owner_is_denied if {
	d := rebac.decision with input as {"action": "approve_expense", "token": f.via_agent(f.bob), "resource": {"type": "expense", "id": 4}}
	not d.allow
	d.reason == "approve_expense: the resource names no owner"
}

test_alice_cannot_disable_bob_through_the_mcp_server if {
	d := decide("disable_user", f.via_mcp(f.alice))
	not d.allow
	d.reason == "disable_user: delegated call (actor mcp-server) — only the human may do this"
}

test_alice_cannot_disable_bob_through_the_agent_service_account if {
	d := decide("disable_user", f.via_agent(f.alice))
	not d.allow
	d.reason == sprintf("disable_user: delegated call (actor %s, service account of agent) — only the human may do this", [f.agent_sa])
}

test_act_sub_wins_over_azp if {
	token := object.union(f.alice, {"azp": "explorer-cli", "act": {"sub": "agent"}})
	d := decide("disable_user", token)
	not d.allow
	contains(d.reason, "(actor agent)")
}

test_any_act_claim_means_delegation if {
	token := object.union(f.alice, {"azp": "explorer-cli", "act": {"sub": "someone-else"}})
	d := decide("set_role", token)
	not d.allow
	contains(d.reason, "delegated call (actor someone-else)")
}

test_alice_disables_bob_when_acting_herself if {
	d := decide("disable_user", f.direct(f.alice))
	d.allow
	d.reason == "disable_user: alice (admin) is acting directly (actor explorer-cli is not an agent)"
}

test_token_with_neither_act_nor_azp_cannot_do_human_only_actions if {
	d := decide("disable_user", f.alice)
	not d.allow
	d.reason == "disable_user: the token names no actor (neither act.sub nor azp) — only a human acting directly may do this"
}

test_token_with_neither_act_nor_azp_still_reads_and_writes if {
	decide("read_expenses", f.alice).allow
	decide("post_note", f.bob).allow
	decide("approve_expense", f.bob).allow
}

test_dave_cannot_make_himself_admin if {
	d := decide("set_role", f.via_agent(f.dave))
	not d.allow
	d.reason == "set_role requires role admin, dave has readonly"
	not decide("set_role", f.direct(f.dave)).allow
}

test_dave_reads_documents if {
	d := decide("read_documents", f.via_agent(f.dave))
	d.allow
	d.reason == "read_documents: any user may read (dave has readonly)"
}

test_alice_lists_users_through_the_agent if {
	d := decide("list_users", f.via_agent(f.alice))
	d.allow
	d.reason == "list_users: alice has role admin"
}

test_bob_cannot_disable_users_even_directly if {
	d := decide("disable_user", f.direct(f.bob))
	not d.allow
	d.reason == "disable_user requires role admin, bob has user"
}

test_unknown_action_is_denied if {
	d := decide("drop_tables", f.direct(f.alice))
	not d.allow
	d.reason == "unknown action drop_tables"
}

test_empty_input_is_denied_not_undefined if {
	d := rebac.decision with input as {}
	d.allow == false
	count(d.reason) > 0
}
