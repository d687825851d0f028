"""One settings object, built once (from the environment and CLI flags) and passed down.

Nothing reads the environment at import time; `Settings.from_env` is called by the CLI, the
TUI and tests, each with the mapping they choose.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from stack.clock import Clock
from stack.errors import ExplorerError

StackMode = Literal["embedded", "external"]
SCRIPTED = "scripted"
DEMO_EPOCH = 1_767_258_000.0  # 2026-01-01 09:00:00 UTC: the frozen clock of demos and docs


class SettingsError(ExplorerError, ValueError):
    """A setting has a value the explorer cannot use."""


#: A host as an HTTP client takes it: a name or IPv4 address, or an IPv6 one (brackets gone)
_HOST = re.compile(r"[\w.~%-]+|[0-9A-Fa-f:.]+")


def check_http_url(name: str, value: str) -> None:
    """`value` is an http(s) URL with a host and a valid port, or SettingsError says so (an
    HTTP client would otherwise fail deep in a first request, with a traceback)."""
    try:
        parts = urlsplit(value)
        parts.port   # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise SettingsError(f"{name} is not a valid URL: {value!r}") from None
    if (parts.scheme not in ("http", "https") or not _HOST.fullmatch(parts.hostname or "")
            or any(c.isspace() or not c.isprintable() for c in value)):
        raise SettingsError(f"{name} must be an http(s) URL with a host, not {value!r}")


@dataclass(frozen=True)
class Settings:
    stack: StackMode = "embedded"
    keycloak_url: str = "http://127.0.0.1:8080"
    opa_url: str = "http://127.0.0.1:8181"
    realm: str = "agentauth"
    model: str = SCRIPTED
    openai_base_url: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    timeout: float = 5.0
    llm_timeout: float = 60.0
    # a model endpoint that answers 429/502/503/504: at most this many retries, this many
    # seconds of waiting in all (runtime.model_endpoint.RetryPolicy)
    llm_retries: int = 2
    llm_max_wait: float = 10.0
    demo: bool = False
    lab: bool = False
    # where students hand in their challenge progress (a folder an instructor set up)
    hand_in: str | None = None

    @property
    def scripted(self) -> bool:
        return self.model == SCRIPTED

    @property
    def issuer(self) -> str:
        return f"{self.keycloak_url.rstrip('/')}/realms/{self.realm}"

    def new_clock(self) -> Clock:
        """The clock a session's tokens and hops go by: frozen in demos, the real one
        otherwise."""
        return Clock(fixed=DEMO_EPOCH) if self.demo else Clock()

    def with_(self, **changes: Any) -> Settings:
        clean = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **clean).validated()

    def validated(self) -> Settings:
        if self.stack not in ("embedded", "external"):
            raise SettingsError(f"stack must be 'embedded' or 'external', not {self.stack!r}")
        for name in ("keycloak_url", "opa_url", "openai_base_url"):
            if (value := getattr(self, name)) is not None:
                check_http_url(name, value)
        if not self.scripted and not (self.openai_api_key or self.openai_base_url):
            raise SettingsError(
                f"model {self.model!r} needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local "
                "OpenAI-compatible server such as Ollama or vLLM)"
            )
        if not all(0 < t < math.inf for t in (self.timeout, self.llm_timeout)):
            raise SettingsError("timeouts must be positive numbers of seconds")
        if not 0 <= self.llm_retries <= 10 or not 0 <= self.llm_max_wait <= 300:
            raise SettingsError("model retries must be 0-10 and their total wait 0-300 s")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> Settings:
        def number(key: str, default: float) -> float:
            try:
                return float(env.get(key, default))
            except ValueError as exc:
                raise SettingsError(f"{key} must be a number, not {env[key]!r}") from exc

        def count(key: str, default: int) -> int:
            try:
                return int(env.get(key, default))
            except ValueError as exc:
                raise SettingsError(f"{key} must be a whole number, not {env[key]!r}") from exc

        base = cls(
            stack=env.get("AGENT_AUTH_STACK", "embedded"),  # type: ignore[arg-type]
            keycloak_url=env.get("KEYCLOAK_URL", cls.keycloak_url),
            opa_url=env.get("OPA_URL", cls.opa_url),
            realm=env.get("AGENT_AUTH_REALM", cls.realm),
            model=env.get("AGENT_AUTH_MODEL", SCRIPTED),
            openai_base_url=env.get("OPENAI_BASE_URL") or None,
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            timeout=number("AGENT_AUTH_TIMEOUT", cls.timeout),
            llm_timeout=number("AGENT_AUTH_LLM_TIMEOUT", cls.llm_timeout),
            llm_retries=count("AGENT_AUTH_LLM_RETRIES", cls.llm_retries),
            llm_max_wait=number("AGENT_AUTH_LLM_MAX_WAIT", cls.llm_max_wait),
            hand_in=env.get("AGENT_AUTH_HAND_IN") or None,
        )
        return base.with_(**overrides)
