# Tokens and resources shared by the policy unit tests (`opa test stack/opa`).
# Claims mirror docs/contracts.md: exchanged tokens carry azp = mcp-server; the embedded IdP
# adds RFC 8693 act for delegation; explorer-cli is the human's own login client.
package agentauth.fixtures_test

agent_sa := "8a1f6c1e-0000-4000-8000-0000000a9e17"

alice := {"sub": "8a1f6c1e-0000-4000-8000-00000000a11c", "preferred_username": "alice", "role": "admin", "department": "engineering", "reports_to": "bob"}

bob := {"sub": "8a1f6c1e-0000-4000-8000-000000000b0b", "preferred_username": "bob", "role": "user", "department": "engineering"}

dave := {"sub": "8a1f6c1e-0000-4000-8000-00000000da7e", "preferred_username": "dave", "role": "readonly", "department": "platform"}

# The same user, three ways of reaching the service.
via_mcp(user) := object.union(user, {"azp": "mcp-server", "aud": "records-service"})

via_agent(user) := object.union(user, {"azp": "mcp-server", "aud": "records-service", "act": {"sub": agent_sa, "client_id": "agent"}})

direct(user) := object.union(user, {"azp": "explorer-cli", "aud": ["mcp-server", "records-service", "directory-service"]})

expense4 := {"type": "expense", "id": 4, "owner": alice.sub, "department": "engineering"}

user_bob := {"type": "user", "id": "bob"}

resource_for(action) := expense4 if {
	action in {"read_expenses", "submit_expense", "approve_expense"}
} else := user_bob if {
	action in {"list_users", "set_role", "disable_user"}
} else := {"type": "document"} if {
	action == "read_documents"
} else := {"type": "note"}

request(action, token) := {"action": action, "token": token, "resource": resource_for(action)}

all_actions := [
	"read_expenses", "submit_expense", "approve_expense", "read_documents", "read_notes",
	"post_note", "list_users", "set_role", "disable_user",
]
