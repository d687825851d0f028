"""User sessions (`sid`): created by a login (the login form, or the password grant where a
client still allows it), kept alive by refreshes, ended when a code is presented twice.

A session ends after `ssoSessionIdleTimeout` without a refresh or `ssoSessionMaxLifespan`
after login, like Keycloak. The store is bounded: the oldest session is dropped when full.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass

from stack.clock import Clock


@dataclass
class UserSession:
    id: str
    user_id: str
    started: float
    last_refresh: float


class SessionStore:
    def __init__(
        self, clock: Clock, idle: int, max_lifespan: int, max_sessions: int = 10_000
    ) -> None:
        self._clock = clock
        self.idle = idle
        self.max_lifespan = max_lifespan
        self._max = max_sessions
        self._sessions: OrderedDict[str, UserSession] = OrderedDict()

    def create(self, user_id: str) -> UserSession:
        now = self._clock.now()
        session = UserSession(
            id=secrets.token_urlsafe(18), user_id=user_id, started=now, last_refresh=now
        )
        self._sessions[session.id] = session
        while len(self._sessions) > self._max:
            self._sessions.popitem(last=False)
        return session

    def expires_at(self, session: UserSession) -> float:
        return min(session.last_refresh + self.idle, session.started + self.max_lifespan)

    def active(self, sid: str) -> UserSession | None:
        session = self._sessions.get(sid)
        if session is None:
            return None
        if self.expires_at(session) <= self._clock.now():
            del self._sessions[sid]
            return None
        return session

    def touch(self, session: UserSession) -> None:
        session.last_refresh = self._clock.now()

    def end(self, sid: str) -> None:
        self._sessions.pop(sid, None)
