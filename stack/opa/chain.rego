# Patterns 09 and 10: a delegation chain with task-scoped tokens.
#
# The token service judged the chain when it made the token (who may act for whom, how
# deep, scope only narrows). Here, RFC 8693 section 4.1: the decision rests on the current
# actor (`act.sub`) and the granted `scope`; earlier actors (`act.act`) are informational,
# for the audit only. A task token that was granted only `acme:read` reads and never writes,
# whatever the user may do; then the relationship policy of patterns 07 and 08 decides.
package agentauth.chain

import data.agentauth.common
import data.agentauth.rebac

default granted := set()

granted := {s | some s in split(input.token.scope, " ")} if is_string(input.token.scope)

default needed := "acme:write"

needed := "acme:read" if common.action in common.read_actions

default decision := {"allow": false, "reason": "chain: no rule matched (default deny)"}

decision := common.deny(sprintf("%s needs scope %s, which the token (current actor %s) was not granted: the task it was made for does not include it", [common.action_text, needed, common.actor_text])) if {
	common.action in common.known_actions
	not needed in granted
} else := rebac.decision
