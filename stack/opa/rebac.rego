# Patterns 07 and 08: relationship-based access control with delegation.
#
# Two questions RBAC cannot ask:
#   - relationship: may this user act on this resource? bob approves alice's expense
#     because alice reports to bob (data.users); nobody approves their own.
#   - delegation: is a human acting, or an agent on the human's behalf? Changing roles and
#     disabling users are for the human only, never for an agent holding a delegated token.
package agentauth.rebac

import data.agentauth.common

default decision := {"allow": false, "reason": "rebac: no rule matched (default deny)"}

decision := common.deny(sprintf("%s: the token names no user (no sub)", [common.action_text])) if {
	common.user == ""
} else := common.deny(sprintf("unknown action %s", [common.action_text])) if {
	not common.action in common.known_actions
} else := common.allow(sprintf("%s: any user may read (%s has %s)", [common.action, common.user_text, common.role_text])) if {
	common.action in common.read_actions
} else := common.allow(sprintf("%s: %s has role %s", [common.action, common.user_text, common.role])) if {
	common.action in common.member_actions
	common.role in common.member_roles
} else := common.deny(sprintf("%s requires role admin or user, %s has %s", [common.action, common.user_text, common.role_text])) if {
	common.action in common.member_actions
} else := approve_expense if {
	common.action == "approve_expense"
} else := common.deny(sprintf("%s requires role admin, %s has %s", [common.action, common.user_text, common.role_text])) if {
	common.role != "admin"
} else := common.deny(sprintf("%s: the token names no actor (neither act.sub nor azp) — only a human acting directly may do this", [common.action])) if {
	common.actor == ""
} else := common.deny(sprintf("%s: delegated call (actor %s) — only the human may do this", [common.action, common.actor_text])) if {
	common.delegated
} else := common.allow(sprintf("%s: %s (admin) is acting directly (actor %s is not an agent)", [common.action, common.user_text, common.actor_text]))

# approve_expense: the org chart decides, not the role.
# (Checks read common.owner, which is always defined: `not f(input.x)` with an undefined
# argument is undefined in OPA, not true.)
approve_expense := common.deny("approve_expense: the resource names no owner") if {
	common.owner == ""
} else := common.deny(sprintf("approve_expense: %s cannot approve their own expense", [common.user_text])) if {
	common.owner == common.user
} else := common.deny(sprintf("approve_expense: %s is not in the org chart (data.users)", [common.owner_text])) if {
	not data.users[common.owner]
} else := common.allow(sprintf("approve_expense: %s manages %s (%s reports_to %s)", [common.user_text, common.owner_text, common.owner_text, common.user_text])) if {
	data.users[common.owner].reports_to == common.user
} else := common.deny(sprintf("approve_expense: %s is not %s's manager", [common.user_text, common.owner_text]))
