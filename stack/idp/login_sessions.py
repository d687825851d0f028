"""Server-side state of the browser login: pending logins (Keycloak's authentication
sessions) and the authorization codes they end with.

A pending login is one browser tab's authorization request waiting for the login form. The
browser holds only the AUTH_SESSION_ID cookie (the root session); the form's action names
the tab and a one-time `session_code` that changes every time the form is shown.

A code is single-use from the first attempt on: redeeming it removes it whatever the outcome,
and presenting it again revokes the session it created (RFC 6749 section 4.1.2; Keycloak
26.7 does the same). Both stores are bounded: when full the oldest entry goes.
"""

from __future__ import annotations

import secrets
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

from stack.clock import Clock
from stack.errors import ExplorerError

from .authz_request import AuthorizationRequest

MAX_ROOTS = 10_000
MAX_TABS = 16
MAX_CODES = 10_000


@dataclass
class PendingLogin:
    tab_id: str
    request: AuthorizationRequest
    expires: float
    session_code: str = ""
    username: str = ""  # what the user typed last, shown again like Keycloak does
    notice: str | None = None  # a message for the next rendering of the form


class LoginSessionStore:
    def __init__(self, clock: Clock, lifespan: int) -> None:
        self._clock = clock
        self.lifespan = lifespan
        self._roots: OrderedDict[str, dict[str, PendingLogin]] = OrderedDict()

    def begin(self, root_id: str | None, request: AuthorizationRequest) -> tuple[str, PendingLogin]:
        """A new tab in the browser's root session (a new root when it has none)."""
        tabs = self._roots.get(root_id) if root_id else None
        if tabs is None or root_id is None:
            root_id = secrets.token_urlsafe(24)
            tabs = self._roots[root_id] = {}
            while len(self._roots) > MAX_ROOTS:
                self._roots.popitem(last=False)
        while len(tabs) >= MAX_TABS:
            tabs.pop(next(iter(tabs)))
        tab = PendingLogin(
            tab_id=secrets.token_urlsafe(8),
            request=request,
            expires=self._clock.now() + self.lifespan,
        )
        tabs[tab.tab_id] = tab
        return root_id, tab

    def find(
        self, root_id: str | None, tab_id: str | None, client_id: str | None
    ) -> PendingLogin | None:
        """The live pending login of that tab and client, or None (expired ones are dropped)."""
        tabs = self._roots.get(root_id) if root_id else None
        tab = tabs.get(tab_id) if tabs is not None and tab_id else None
        if tab is None or tab.request.client.client_id != client_id:
            return None
        if tab.expires <= self._clock.now():
            self.finish(root_id, tab.tab_id)
            return None
        return tab

    @staticmethod
    def renew_code(tab: PendingLogin) -> str:
        tab.session_code = secrets.token_urlsafe(32)
        return tab.session_code

    def finish(self, root_id: str | None, tab_id: str) -> bool:
        """Drop a tab; True when its root session is now empty (and dropped too)."""
        tabs = self._roots.get(root_id) if root_id else None
        if tabs is None:
            return True
        tabs.pop(tab_id, None)
        if not tabs:
            self._roots.pop(root_id or "", None)
            return True
        return False


@dataclass(frozen=True)
class IssuedCode:
    request: AuthorizationRequest
    user_id: str
    session_id: str
    expires: float


class CodeNotValid(ExplorerError):
    """Unknown, expired or already used code. `reused_session` is the session to revoke
    when the code was presented before."""

    def __init__(self, reused_session: str | None = None) -> None:
        super().__init__("Code not valid")
        self.reused_session = reused_session


@dataclass
class CodeStore:
    clock: Clock
    lifespan: int
    _live: OrderedDict[str, IssuedCode] = field(default_factory=OrderedDict)
    _used: OrderedDict[str, IssuedCode] = field(default_factory=OrderedDict)

    def issue(self, request: AuthorizationRequest, user_id: str, session_id: str) -> str:
        code = f"{uuid.uuid4()}.{secrets.token_urlsafe(24)}"
        self._live[code] = IssuedCode(
            request, user_id, session_id, self.clock.now() + self.lifespan
        )
        while len(self._live) > MAX_CODES:
            self._live.popitem(last=False)
        return code

    def redeem(self, code: str) -> IssuedCode:
        """The code's grant, once; CodeNotValid afterwards, when unknown or expired."""
        now = self.clock.now()
        for store in (self._live, self._used):  # forget what can no longer be redeemed
            while store and next(iter(store.values())).expires <= now:
                store.popitem(last=False)
        issued = self._live.pop(code, None)
        if issued is None:
            used = self._used.get(code)
            raise CodeNotValid(used.session_id if used is not None else None)
        self._used[code] = issued
        while len(self._used) > MAX_CODES:
            self._used.popitem(last=False)
        return issued
