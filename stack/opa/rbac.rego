# Pattern 06: role-based access control.
#
# The role in the token is all that counts: an admin may do anything, a user may do
# ordinary work, readonly may only read. Who owns the expense, who manages whom and
# whether an agent is acting are invisible to this policy. That blind spot is the lesson:
# bob (user) cannot approve the expense of alice, whom he manages, while alice (admin) may
# approve her own.
package agentauth.rbac

import data.agentauth.common

default decision := {"allow": false, "reason": "rbac: no rule matched (default deny)"}

decision := common.deny(sprintf("%s: the token names no user (no sub)", [common.action_text])) if {
	common.user == ""
} else := common.deny(sprintf("unknown action %s", [common.action_text])) if {
	not common.action in common.known_actions
} else := common.allow(sprintf("%s: any role may read (%s has %s)", [common.action, common.user_text, common.role_text])) if {
	common.action in common.read_actions
} else := common.allow(sprintf("%s: %s has role %s", [common.action, common.user_text, common.role])) if {
	common.action in common.member_actions
	common.role in common.member_roles
} else := common.deny(sprintf("%s requires role admin or user, %s has %s", [common.action, common.user_text, common.role_text])) if {
	common.action in common.member_actions
} else := common.allow(sprintf("%s: %s has role admin", [common.action, common.user_text])) if {
	common.role == "admin"
} else := common.deny(sprintf("%s requires role admin, %s has %s", [common.action, common.user_text, common.role_text]))
