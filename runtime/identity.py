"""What a tool service knows about its caller, and what it decided.

`Identity` is produced by a pattern's `service_auth.get_identity`; `Decision` by its
`service_auth.authorize`. Both are plain frozen values so the explorer can measure the
pattern table's columns from them instead of printing constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

IdentityMethod = Literal[
    "anonymous",      # nothing presented, nothing checked
    "shared_key",     # one key for the whole agent: the service knows "the agent", not the user
    "user_key",       # a per-user API key (a string that names a user)
    "jwt",            # a signature-verified JWT
    "dpop_jwt",       # a verified JWT bound to a key, with a verified per-request proof
]
DecidedBy = Literal["nobody", "service", "IdP", "OPA", "runtime"]
Outcome = Literal["ALLOW", "DENY"]


@dataclass(frozen=True)
class Identity:
    method: IdentityMethod
    user_id: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    raw_token: str | None = None
    actor: str | None = None
    detail: str = ""

    @property
    def verified(self) -> bool:
        """Is there cryptographic proof behind this identity?"""
        return self.method in ("jwt", "dpop_jwt")

    @property
    def role(self) -> str | None:
        role = self.claims.get("role")
        return str(role) if role else None

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
        return f"{self.method}: {who}{actor}"


ANONYMOUS = Identity(method="anonymous", detail="no credential checked")


@dataclass(frozen=True)
class Decision:
    allow: bool
    decided_by: DecidedBy
    reason: str = ""
    policy_input: dict[str, Any] | None = None

    @property
    def outcome(self) -> Outcome:
        return "ALLOW" if self.allow else "DENY"


class AuthError(Exception):
    """The credential is missing or invalid: the service answers 401 with WWW-Authenticate."""

    def __init__(
        self, reason: str, *, scheme: str = "Bearer", error: str = "invalid_token",
        decided_by: DecidedBy = "service",
    ) -> None:
        super().__init__(reason)
        self.reason, self.scheme, self.error, self.decided_by = reason, scheme, error, decided_by

    @property
    def www_authenticate(self) -> str:
        description = self.reason.replace('"', "'")
        return f'{self.scheme} error="{self.error}", error_description="{description}"'


class DependencyError(Exception):
    """An IdP or OPA the decision depends on is down, slow or broken: fail closed (503)."""

    def __init__(self, reason: str, *, decided_by: DecidedBy = "service") -> None:
        super().__init__(reason)
        self.reason, self.decided_by = reason, decided_by
