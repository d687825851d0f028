"""Which hops belong to one call to a service: the OPA decision and the audit record the
service made while answering it.

They share the call's trace and name the called service as their source. A hop is recorded
when its response arrives, so a service's own hops (asking OPA, writing the audit record)
come just *before* the call's hop: between the previous call to that service in the trace
and this one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from runtime import Hop

Related = Literal["opa", "audit"]
CALL_KINDS = frozenset({"service", "attacker", "mcp"})


def is_call(hop: Hop) -> bool:
    return hop.kind in CALL_KINDS and bool(hop.method)


def call_of(hop: Hop, hops: Sequence[Hop]) -> Hop | None:
    """The call `hop` belongs to: itself for a call, the call it served for OPA and audit."""
    if is_call(hop):
        return hop
    if hop.kind not in ("opa", "audit"):
        return None
    return next((h for h in hops if h.trace_id == hop.trace_id and h.seq > hop.seq
                 and is_call(h) and h.target == hop.source), None)


def related_hop(hop: Hop, hops: Sequence[Hop], wanted: Related) -> Hop | None:
    """The `wanted` hop (OPA decision or audit record) of the call `hop` belongs to."""
    call = call_of(hop, hops)
    if call is None:
        return None
    same = [h for h in hops if h.trace_id == call.trace_id and h.seq < call.seq]
    earlier = [h.seq for h in same if is_call(h) and h.target == call.target]
    since = max(earlier, default=0)
    found = [h for h in same if h.seq > since and h.kind == wanted and h.source == call.target]
    return found[-1] if found else None
