# Shared vocabulary of the Acme policies (docs/contracts.md, "OPA").
#
# Everything here reads `input` defensively: a missing or mistyped claim becomes a
# default ("" / "no role") so that every decision stays defined and can say why it denied.
package agentauth.common

# --- actions -----------------------------------------------------------------------------

read_actions := {"read_expenses", "read_documents", "read_notes", "search"}

# Need role admin or user.
member_actions := {"submit_expense", "post_note", "list_users"}

# Need role admin (RBAC); ReBAC decides approve_expense by the org chart instead.
admin_actions := {"approve_expense", "set_role", "disable_user"}

known_actions := (read_actions | member_actions) | admin_actions

member_roles := {"admin", "user"}

# --- who is asking -----------------------------------------------------------------------

default action := ""

action := input.action if is_string(input.action)

default action_text := "(no action)"

action_text := input.action if is_string(input.action)

action_text := sprintf("(not a string: %s)", [type_name(input.action)]) if {
	type_name(input.action) != "string"
}

# The user is the token's subject, `sub`: unique and never reassigned within the issuer
# (OIDC Core 2), which the service has already checked. `preferred_username` is for
# messages only: OIDC Core 5.1 says it must not be relied on as unique.
default user := ""

user := input.token.sub if is_string(input.token.sub)

default user_text := "(no subject)"

user_text := input.token.preferred_username if {
	user != ""
	is_string(input.token.preferred_username)
} else := user if user != ""

default role := ""

role := input.token.role if is_string(input.token.role)

default role_text := "no role"

role_text := role if role != ""

# Owner of the resource acted on, as a `sub` (the service fills it in from its records).
default owner := ""

owner := input.resource.owner if is_string(input.resource.owner)

default owner_text := "(no owner)"

owner_text := data.users[owner].username if {
	owner != ""
	is_string(data.users[owner].username)
} else := owner if owner != ""

# --- who is acting -----------------------------------------------------------------------

# The actor is RFC 8693 `act.sub` when the IdP emits it (embedded IdP, Keycloak with the
# delegation feature), else the authorized party `azp` (plain Keycloak token exchange).
default actor := ""

actor := input.token.act.sub if {
	is_string(input.token.act.sub)
} else := input.token.azp if {
	is_string(input.token.azp)
}

# A call is delegated when the actor is one of our agents (data.agents). An `act` claim
# always means delegation (RFC 8693 §4.1), whoever the actor is.
default delegated := false

delegated if data.agents[actor]

delegated if input.token.act

default actor_text := "unknown actor"

actor_text := actor if {
	actor != ""
	not data.agents[actor].service_account
}

actor_text := sprintf("%s, service account of %s", [actor, data.agents[actor].client_id]) if {
	actor != ""
	data.agents[actor].service_account
}

# --- decision documents ------------------------------------------------------------------

allow(reason) := {"allow": true, "reason": reason}

deny(reason) := {"allow": false, "reason": reason}
