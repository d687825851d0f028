"""The knowledge service's search index: every document cut into chunks, ranked by BM25.

Built once, at start, from *all* documents (the indexer reads everything, as a service
credential would): each chunk keeps its document's access attributes (id, title,
visibility), so that a retrieval filter can decide per chunk without reading the document
again. Ranking is BM25 (Robertson and Zaragoza's Okapi BM25, via `bm25s`), in memory and
offline. `rank(query, among=...)` scores only the chunks it is given: whoever filters does
so before ranking, never after.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.services.world import Document

MAX_WORDS = 40          # a chunk is a run of whole sentences of at most this many words
TOP_K = 3
MAX_QUERY_CHARS = 200
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Chunk:
    """A passage of one document, with the document's access attributes."""

    id: str               # "doc6#0": document 6, first chunk
    document: int
    title: str
    visibility: str
    text: str

    def attributes(self) -> dict[str, Any]:
        """What a policy needs to decide on this chunk (never its text)."""
        return {"id": self.id, "document": self.document, "visibility": self.visibility}


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float

    def to_json(self) -> dict[str, Any]:
        c = self.chunk
        return {"chunk": c.id, "document": c.document, "title": c.title,
                "visibility": c.visibility, "text": c.text, "score": round(self.score, 3)}


def chunk_document(doc: Document) -> list[Chunk]:
    """Whole sentences, grouped up to MAX_WORDS words per chunk."""
    groups: list[list[str]] = [[]]
    for sentence in _SENTENCE.split(doc.body.strip()):
        words = sum(len(s.split()) for s in groups[-1])
        if groups[-1] and words + len(sentence.split()) > MAX_WORDS:
            groups.append([])
        groups[-1].append(sentence)
    return [Chunk(f"doc{doc.id}#{i}", doc.id, doc.title, doc.visibility, " ".join(group))
            for i, group in enumerate(groups) if group]


def _bm25s() -> Any:
    """bm25s, imported when the first index is built (numpy behind it), not at import. It sets
    its own logger to DEBUG, which prints a line per index wherever the root logger has a
    handler (a notebook, a script, the MCP SDK's basicConfig): warnings only."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def _tokens(texts: list[str]) -> Any:
    return _bm25s().tokenize(texts, stopwords="en", show_progress=False, return_ids=False)


class ChunkIndex:
    """BM25 over the chunks of a set of documents.

    Ranked among a subset (what a retrieval filter let through), the scores come from an
    index of that subset alone: BM25's word weights count the chunks a word occurs in, so
    weights computed over every chunk would let a score hint at chunks the caller may not
    see. One index per subset, kept (a filter lets through a handful of distinct subsets).
    """

    def __init__(self, chunks: list[Chunk]) -> None:
        bm25s = _bm25s()
        self.chunks = chunks
        self.by_id = {c.id: c for c in chunks}
        self._subsets: dict[frozenset[str], ChunkIndex] = {}
        self._bm25 = bm25s.BM25()
        # the title is part of what a chunk is about: "Platform runbook" finds its body
        corpus = [f"{c.title}. {c.text}" for c in chunks]
        self._bm25.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False),
                         show_progress=False)

    @classmethod
    def build(cls, documents: Mapping[int, Document] | Iterable[Document]) -> ChunkIndex:
        docs = documents.values() if isinstance(documents, Mapping) else documents
        return cls([chunk for doc in docs for chunk in chunk_document(doc)])

    def rank(self, query: str, among: Iterable[str], k: int = TOP_K) -> list[Hit]:
        """The best `k` chunks for `query` among the chunk ids `among` (score > 0 only)."""
        allowed = frozenset(among).intersection(self.by_id)
        if allowed != self.by_id.keys():
            if not allowed:
                return []
            if allowed not in self._subsets:
                self._subsets[allowed] = ChunkIndex([c for c in self.chunks if c.id in allowed])
            return self._subsets[allowed].rank(query, allowed, k)
        words = _tokens([query[:MAX_QUERY_CHARS]])[0]
        if not words:
            return []
        scores = self._bm25.get_scores(words)
        hits = [Hit(c, float(s)) for c, s in zip(self.chunks, scores, strict=True) if s > 0]
        hits.sort(key=lambda h: (-h.score, h.chunk.id))
        return hits[:k]
