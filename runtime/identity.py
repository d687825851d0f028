"""What a tool service knows about its caller, and what it decided.

`Identity` is produced by a pattern's `service_auth.get_identity`; `Decision` by its
`service_auth.authorize`. Both are plain frozen values so the explorer can measure the
pattern table's columns from them instead of printing constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from stack.errors import ExplorerError

IdentityMethod = Literal[
    # the write-up's names
    "none",           # nothing presented, nothing checked
    "api_key",        # one key for the whole agent: the service knows "the agent", not the user
    "string_id",      # a user name asserted by the caller, taken on trust
    "jwt",            # a signature-verified JWT (the user's own, broad token)
    "scoped_jwt",     # a verified JWT whose audience is this service alone
    # what the write-up lacks
    "user_api_key",   # a per-user API key: a string that names a user through a table
    "delegated_jwt",  # a verified, scoped JWT naming the user and the agent acting for them
    "bound_jwt",      # a delegated JWT bound to a key, with a verified per-request proof
    "chained_jwt",    # a bound JWT whose `act` may nest the earlier actors of a delegation chain
]
#: Methods backed by a signature the service checked against the IdP's keys.
VERIFIED_METHODS = frozenset({"jwt", "scoped_jwt", "delegated_jwt", "bound_jwt", "chained_jwt"})
#: How the service learned who the user is, as the pattern table says it ("yes (JWT)").
USER_CREDENTIAL_KIND = {"jwt": "JWT", "scoped_jwt": "JWT", "delegated_jwt": "delegated JWT",
                        "bound_jwt": "bound JWT", "chained_jwt": "chained JWT"}
DecidedBy = Literal["nobody", "service", "IdP", "OPA", "runtime"]
Outcome = Literal["ALLOW", "DENY"]


@dataclass(frozen=True)
class Identity:
    """What the service extracted from the request (the write-up's shape, plus `actor`)."""

    method: IdentityMethod | str
    user_id: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    raw_token: str | None = None
    detail: str | None = None
    actor: str | None = None
    #: the earlier actors of a delegation chain, most recent first (`act.act`...): RFC 8693
    #: section 4.1 makes them informational only, for the audit, never for access control
    prior_actors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.claims, dict):  # the write-up passes claims=None
            object.__setattr__(self, "claims", {})

    @property
    def verified(self) -> bool:
        """Is there cryptographic proof behind this identity?"""
        return self.method in VERIFIED_METHODS

    @property
    def role(self) -> str | None:
        role = self.claims.get("role")
        return role if isinstance(role, str) and role else None

    @property
    def audience(self) -> tuple[str, ...]:
        aud = self.claims.get("aud")
        if isinstance(aud, str):
            return (aud,)
        if isinstance(aud, list):
            return tuple(str(a) for a in aud)
        return ()

    def describe(self) -> str:
        who = self.user_id or "(unknown user)"
        actor = f" via {self.actor}" if self.actor else ""
        prior = "".join(f", delegated by {p}" for p in self.prior_actors)
        return f"{self.method}: {who}{actor}{prior}"


NOBODY = Identity(method="none", detail="no credential checked")


@dataclass(frozen=True)
class Decision:
    """What the service's `authorize` decided, who decided it, and why."""

    allow: bool
    decided_by: DecidedBy
    reason: str = ""
    policy_input: dict[str, Any] | None = None

    @property
    def outcome(self) -> Outcome:
        return "ALLOW" if self.allow else "DENY"


@dataclass(frozen=True)
class Filter:
    """What a retrieval filter decided over a set of items (a pattern's optional
    `service_auth.visible`): the ids the caller may see, who decided, and why."""

    visible: frozenset[str]
    decided_by: DecidedBy
    reason: str = ""
    policy_input: dict[str, Any] | None = None


class AuthError(ExplorerError):
    """The credential is missing or invalid: the service answers 401 with WWW-Authenticate.
    `decided_by` defaults to whoever raised it (the service, or the MCP server's runtime)."""

    def __init__(
        self, reason: str, *, scheme: str = "Bearer", error: str | None = "invalid_token",
        decided_by: DecidedBy | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason, self.scheme, self.error, self.decided_by = reason, scheme, error, decided_by

    @property
    def www_authenticate(self) -> str:
        """The challenge (RFC 6750 section 3): with no credential at all, the bare scheme;
        otherwise the error code and a description."""
        if self.error is None:
            return self.scheme
        description = self.reason.replace('"', "'").replace("\\", "/")
        return f'{self.scheme} error="{self.error}", error_description="{description}"'


class DependencyError(ExplorerError):
    """An IdP or OPA the decision depends on is down, slow or broken: fail closed (503)."""

    def __init__(self, reason: str, *, decided_by: DecidedBy = "service") -> None:
        super().__init__(reason)
        self.reason, self.decided_by = reason, decided_by
