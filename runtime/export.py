"""Export the wire: JSON lines (one hop per line) and HAR 1.2 (custom fields prefixed `_`).

Only HTTP hops become HAR entries; prompts, answers and audit records ride along as
`_events` on the log so nothing is lost. Secrets were already redacted by the tap.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from runtime.wire import Hop

HAR_VERSION = "1.2"
CREATOR = {"name": "agent-auth-explorer", "version": "0.1.0"}


def hop_to_dict(hop: Hop) -> dict[str, Any]:
    data = asdict(hop)
    data["tokens"] = [{"header": t.header, "claims": t.claims, "raw": t.raw} for t in hop.tokens]
    data["request_headers"] = [list(h) for h in hop.request_headers]
    data["response_headers"] = [list(h) for h in hop.response_headers]
    return data


def to_jsonl(hops: Sequence[Hop], pattern: str | None = None) -> str:
    """One hop per line; with `pattern`, each line names it (`agent-auth replay` reads it)."""
    tag = {"pattern": pattern} if pattern else {}
    return "".join(json.dumps({**tag, **hop_to_dict(h)}, default=str) + "\n" for h in hops)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def _headers(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in pairs]


def _mime(pairs: tuple[tuple[str, str], ...]) -> str:
    for key, value in pairs:
        if key.lower() == "content-type":
            return value
    return ""


def _entry(hop: Hop) -> dict[str, Any]:
    url = urlsplit(hop.url)
    request: dict[str, Any] = {
        "method": hop.method,
        "url": hop.url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": _headers(hop.request_headers),
        "queryString": [{"name": k, "value": v} for k, v in parse_qsl(url.query)],
        "headersSize": -1,
        "bodySize": len(hop.request_body.encode()),
    }
    if hop.request_body:
        request["postData"] = {"mimeType": _mime(hop.request_headers) or "text/plain",
                               "text": hop.request_body}
    return {
        "startedDateTime": _iso(hop.started_at),
        "time": round(hop.duration_ms, 3),
        "request": request,
        "response": {
            "status": hop.status or 0,
            "statusText": "",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _headers(hop.response_headers),
            "content": {"size": len(hop.response_body.encode()),
                        "mimeType": _mime(hop.response_headers) or "text/plain",
                        "text": hop.response_body},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": len(hop.response_body.encode()),
        },
        "cache": {},
        "timings": {"send": 0, "wait": round(hop.duration_ms, 3), "receive": 0},
        "_kind": hop.kind,
        "_source": hop.source,
        "_target": hop.target,
        "_traceId": hop.trace_id,
        "_user": hop.user,
        "_summary": hop.summary,
        "_tokens": [{"header": t.header, "claims": t.claims} for t in hop.tokens],
        "_data": json.loads(json.dumps(hop.data, default=str)),
    }


def is_http(hop: Hop) -> bool:
    """An HTTP exchange (a HAR entry); other hops are events (prompts, answers, audit)."""
    return bool(hop.method and hop.url)


def to_har(hops: Sequence[Hop]) -> dict[str, Any]:
    http = [h for h in hops if is_http(h)]
    events = [hop_to_dict(h) for h in hops if not is_http(h)]
    return {
        "log": {
            "version": HAR_VERSION,
            "creator": CREATOR,
            "pages": [],
            "entries": [_entry(h) for h in http],
            "_events": json.loads(json.dumps(events, default=str)),
        }
    }


def to_curl(hop: Hop) -> str:
    """A hop as a curl command (to replay it by hand)."""
    if not hop.url:
        raise ValueError("this hop is not an HTTP request")
    parts = ["curl", "-sS", "-X", hop.method, shlex.quote(hop.url)]
    skip = {"content-length", "host", "accept-encoding", "connection", "traceparent"}
    for key, value in hop.request_headers:
        if key.lower() not in skip:
            parts += ["-H", shlex.quote(f"{key}: {value}")]
    if hop.request_body:
        parts += ["--data-raw", shlex.quote(hop.request_body)]
    return " ".join(parts)
