"""The OPA side of the stack: the Rego policies in this folder and the embedded OPA.

This folder is both the policy bundle and a Python package. `opa run --server stack/opa`
and `opa test stack/opa` load only its .rego and .json files (OPA ignores .py), so the real
OPA and the embedded one read the same files:

    common.rego   package agentauth.common   action sets, user/role/actor helpers
    rbac.rego     package agentauth.rbac     decision for pattern 06
    rebac.rego    package agentauth.rebac    decision for patterns 07/08
    data.json     data.users (org chart), data.agents (who counts as an agent)
    *_test.rego   `opa test` unit tests (not loaded by the embedded OPA)

Both decisions take {"action", "token", "resource"} and return {"allow": bool, "reason": str}.

    opa = EmbeddedOPA()                  # default: this folder
    await opa.start()                    # -> "http://127.0.0.1:<port>"; PolicyLoadError if broken
    opa.evaluate("agentauth/rebac/decision", {...}).value
    opa.fault = "error" | "undefined" | "slow" | None     # simulated faults (HTTP only)
    opa.reload() / opa.use({"x.rego": src}, data)         # replace the policy set
    await opa.stop()
"""

from ._engine import (
    NO_INPUT,
    POLICY_DIR,
    Evaluation,
    PolicyEvalError,
    PolicyLoadError,
    PolicySet,
    RegoEngine,
)
from ._lint import LintProblem, embedded_problems, v1_problems
from ._server import EmbeddedOPA, Fault

RBAC_DECISION = "agentauth/rbac/decision"
REBAC_DECISION = "agentauth/rebac/decision"
CHAIN_DECISION = "agentauth/chain/decision"
RETRIEVAL_FILTER = "agentauth/retrieval/filter"

__all__ = [
    "NO_INPUT",
    "POLICY_DIR",
    "CHAIN_DECISION",
    "RBAC_DECISION",
    "RETRIEVAL_FILTER",
    "REBAC_DECISION",
    "EmbeddedOPA",
    "Evaluation",
    "Fault",
    "LintProblem",
    "PolicyEvalError",
    "PolicyLoadError",
    "PolicySet",
    "RegoEngine",
    "embedded_problems",
    "v1_problems",
]
