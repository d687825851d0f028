"""The knowledge service: search over a chunk index of every document (audience
`knowledge-service`).

The index is built once, at start, from all documents: the indexer reads everything. A
search is authenticated and authorized like any call (`search`); then the pattern says which
chunks this caller may see (`service_auth.visible`, one decision for the whole index), only
those are ranked, and the audit records which documents the answer drew on and who filtered
them, or that nobody did.
"""

# No `from __future__ import annotations`: FastAPI evaluates the Annotated[..., Depends(...)]
# parameters below, and they refer to this module's local `guard`.

from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request

from runtime.identity import Identity
from runtime.services.app import service_app
from runtime.services.chunk_index import MAX_QUERY_CHARS, ChunkIndex
from runtime.services.guard import Guard

SEARCH = "search"          # may the caller search at all (authorize)
RETRIEVE = "retrieve"      # which chunks the answer drew on (the retrieval audit record)


def build_knowledge_app(guard: Guard) -> FastAPI:
    app = service_app("Acme knowledge service", guard.ctx)
    index = ChunkIndex.build(guard.ctx.world().documents)   # no tool writes documents

    @app.get("/search")
    async def search(
        request: Request, identity: Annotated[Identity, Depends(guard.caller(SEARCH))],
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS)],
    ) -> dict[str, object]:
        await guard.authorize(request, identity, SEARCH, {"type": "knowledge", "query": q})
        candidates = [chunk.attributes() for chunk in index.chunks]
        decision = await guard.visible(request, identity, RETRIEVE, candidates)
        hits = index.rank(q, among=decision.visible)
        guard.served(identity, RETRIEVE, decision, {
            "type": "chunks", "query": q, "indexed": len(candidates),
            "ranked": len(decision.visible),
            "documents": sorted({hit.chunk.document for hit in hits}),
        })
        return {"results": [hit.to_json() for hit in hits]}

    return app
