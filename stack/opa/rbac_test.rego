package agentauth.rbac_test

import data.agentauth.fixtures_test as f
import data.agentauth.rbac

decide(action, token) := d if {
	d := rbac.decision with input as f.request(action, token)
}

# Expected allow per user and action (pattern 06). Tokens come through the MCP server.
expected := {
	"alice": {
		"read_expenses": true, "submit_expense": true, "approve_expense": true,
		"read_documents": true, "read_notes": true, "post_note": true,
		"list_users": true, "set_role": true, "disable_user": true,
	},
	"bob": {
		"read_expenses": true, "submit_expense": true, "approve_expense": false,
		"read_documents": true, "read_notes": true, "post_note": true,
		"list_users": true, "set_role": false, "disable_user": false,
	},
	"dave": {
		"read_expenses": true, "submit_expense": false, "approve_expense": false,
		"read_documents": true, "read_notes": true, "post_note": false,
		"list_users": false, "set_role": false, "disable_user": false,
	},
}

users := {"alice": f.alice, "bob": f.bob, "dave": f.dave}

test_every_user_and_action_matches_the_role_table if {
	every name, row in expected {
		every action, want in row {
			decide(action, f.via_mcp(users[name])).allow == want
		}
	}
}

test_the_table_covers_every_action if {
	every _, row in expected {
		count(row) == count(f.all_actions)
		every action in f.all_actions {
			is_boolean(row[action])
		}
	}
}

test_every_decision_has_a_reason if {
	every _, user in users {
		every action in f.all_actions {
			d := decide(action, f.via_mcp(user))
			is_boolean(d.allow)
			count(d.reason) > 0
		}
	}
}

test_bob_cannot_approve_alices_expense_because_rbac_only_sees_roles if {
	d := decide("approve_expense", f.via_mcp(f.bob))
	not d.allow
	d.reason == "approve_expense requires role admin, bob has user"
}

test_alice_may_approve_her_own_expense_because_she_is_admin if {
	d := decide("approve_expense", f.via_mcp(f.alice))
	d.allow
	d.reason == "approve_expense: alice has role admin"
}

test_alice_may_disable_bob_even_through_the_agent if {
	decide("disable_user", f.via_agent(f.alice)).allow
	decide("disable_user", f.via_mcp(f.alice)).allow
}

test_dave_cannot_make_himself_admin if {
	d := decide("set_role", f.via_mcp(f.dave))
	not d.allow
	d.reason == "set_role requires role admin, dave has readonly"
}

test_dave_reads_documents if {
	d := decide("read_documents", f.via_mcp(f.dave))
	d.allow
	d.reason == "read_documents: any role may read (dave has readonly)"
}

test_dave_cannot_post_notes if {
	d := decide("post_note", f.via_mcp(f.dave))
	not d.allow
	d.reason == "post_note requires role admin or user, dave has readonly"
}

test_alice_lists_users if {
	decide("list_users", f.via_mcp(f.alice)).allow
}

test_unknown_action_is_denied_with_its_name if {
	d := decide("drop_tables", f.via_mcp(f.alice))
	not d.allow
	d.reason == "unknown action drop_tables"
}

test_token_without_subject_is_denied if {
	d := decide("read_notes", {"preferred_username": "alice", "role": "admin", "azp": "mcp-server"})
	not d.allow
	contains(d.reason, "no sub")
}

test_token_without_role_may_only_read if {
	zed := {"sub": "id-zed", "preferred_username": "zed", "azp": "mcp-server"}
	decide("read_notes", zed).allow
	d := decide("post_note", zed)
	not d.allow
	d.reason == "post_note requires role admin or user, zed has no role"
}

test_empty_input_is_denied_not_undefined if {
	d := rbac.decision with input as {}
	d.allow == false
	count(d.reason) > 0
}

test_mistyped_claims_are_denied if {
	d := rbac.decision with input as {"action": ["set_role"], "token": {"sub": "id-alice", "preferred_username": "alice", "role": ["admin"]}}
	not d.allow
	d.reason == "unknown action (not a string: array)"
}
