"""Chat history per (pattern, user), built from the hops a run produces, as they arrive.

The chat is a view of the wire: a `prompt` hop is what the user said, an MCP `tools/call`
is a tool call shown inline, an `answer` hop is the agent's reply, and `attacker` hops are
the scripted attacker's actions (marked as such). Keeping plain entries (not widgets) makes
switching between (pattern, user) conversations a cheap re-render.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from runtime import Hop

EntryKind = Literal["user", "agent", "tool", "attacker", "step", "result", "error", "info"]
ChatKey = tuple[str, str]  # (pattern id, user)
MAX_KEPT = 500


@dataclass(frozen=True)
class ChatEntry:
    kind: EntryKind
    who: str
    text: str
    ok: bool = True


def _rpc(body: str) -> dict:
    """The JSON-RPC message in an MCP body (plain JSON or a server-sent event)."""
    for chunk in (body, *[line[5:] for line in body.splitlines() if line.startswith("data:")]):
        try:
            value = json.loads(chunk)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def _tool_result(body: str) -> tuple[str, bool]:
    message = _rpc(body)
    result = message.get("result") or {}
    texts = [c.get("text", "") for c in result.get("content", []) if isinstance(c, dict)]
    text = "\n".join(t for t in texts if t) or json.dumps(message.get("error", "")) or "(empty)"
    refused = bool(result.get("isError")) or '"error"' in text[:40] or "error" in message
    return text, not refused


def entries_from_hop(hop: Hop) -> list[ChatEntry]:
    """The chat lines one hop contributes (most hops contribute none)."""
    if hop.kind == "prompt":
        return [ChatEntry("user", hop.source, hop.request_body or hop.summary)]
    if hop.kind == "answer":
        return [ChatEntry("agent", "agent", hop.response_body or hop.summary)]
    if hop.kind == "error":
        return [ChatEntry("error", hop.source, hop.summary, ok=False)]
    if hop.kind == "audit" and hop.source == "agent":  # a tool call the agent would not make
        gate = hop.data.get("gate") or {}
        return [ChatEntry("tool", f"{gate.get('tool', '?')}(refused by the agent)",
                          str(gate.get("reason", hop.summary)), ok=False)]
    if hop.kind == "attacker":
        if hop.method:
            status = f" → {hop.status}" if hop.status is not None else ""
            return [ChatEntry("attacker", "attacker",
                              f"{hop.method} {hop.target}{_path(hop.url)}{status}", hop.ok)]
        return [ChatEntry("attacker", "attacker", hop.summary)]
    if hop.kind == "mcp" and hop.summary.startswith("tools/call"):
        params = _rpc(hop.request_body).get("params") or {}
        args = params.get("arguments") or {}
        shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in args.items())
        result, ok = _tool_result(hop.response_body)
        if hop.status is not None and hop.status >= 400:
            ok = False
        call = f"{params.get('name', '?')}({shown})"
        return [ChatEntry("tool", call, result, ok)]
    return []


def _path(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else ""


class ChatHistory:
    """Entries per (pattern, user); bounded so a long session stays light."""

    def __init__(self) -> None:
        self._entries: dict[ChatKey, list[ChatEntry]] = {}

    def get(self, key: ChatKey) -> list[ChatEntry]:
        return self._entries.setdefault(key, [])

    def add(self, key: ChatKey, entry: ChatEntry) -> None:
        entries = self.get(key)
        entries.append(entry)
        if len(entries) > MAX_KEPT:
            del entries[: len(entries) - MAX_KEPT]

    def keys(self) -> list[ChatKey]:
        return [k for k, v in self._entries.items() if v]
