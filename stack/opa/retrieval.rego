# Pattern 10: authorization at retrieval time.
#
# The knowledge service asks once per search, for every chunk of its index: which may this
# caller see? Each chunk carries its document's access attributes (id, visibility), never
# its text. The answer is a filter, `{"visible": [chunk ids], "reason": ...}`; only the
# chunks it names are ranked. Acme's rule for documents: public for everyone, admin-only for
# admins, a department's for that department (the department from the directory, data.users).
package agentauth.retrieval

import data.agentauth.common

default department := ""

department := data.users[common.user].department if is_string(data.users[common.user].department)

may_read("public") := true

may_read("admin") := true if common.role == "admin"

may_read(visibility) := true if {
	department != ""
	visibility == department
}

default chunks := []

chunks := input.chunks if is_array(input.chunks)

visible_ids := {chunk.id |
	some chunk in chunks
	is_string(chunk.id)
	may_read(chunk.visibility)
}

hidden := count(chunks) - count(visible_ids)

filter := {"visible": sort([id | some id in visible_ids]), "reason": reason} if {
	common.user != ""
}

reason := sprintf("%d of %d chunks visible to %s (role %s, department %s); %d hidden", [count(visible_ids), count(chunks), common.user_text, common.role_text, department_text, hidden])

default department_text := "none"

department_text := department if department != ""
