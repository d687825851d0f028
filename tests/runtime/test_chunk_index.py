"""The knowledge service's index: whole-sentence chunks that keep their document's access
attributes, ranked by BM25 (bm25s), filtered before ranking, never after."""

import logging

from runtime.services.chunk_index import MAX_WORDS, ChunkIndex, chunk_document
from runtime.services.world import Document, World


def test_every_document_is_cut_into_chunks_that_keep_its_attributes():
    world = World.seed()
    index = ChunkIndex.build(world.documents)
    assert {c.document for c in index.chunks} == set(world.documents)
    for chunk in index.chunks:
        doc = world.documents[chunk.document]
        assert (chunk.title, chunk.visibility) == (doc.title, doc.visibility)
        assert chunk.text in doc.body
        assert set(chunk.attributes()) == {"id", "document", "visibility"}   # never text


def test_chunks_are_whole_sentences_of_bounded_length():
    body = " ".join(f"Sentence number {i} has exactly seven words." for i in range(20))
    chunks = chunk_document(Document(9, "Long", "public", body))
    assert len(chunks) > 1
    assert all(len(c.text.split()) <= MAX_WORDS for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)
    assert " ".join(c.text for c in chunks) == body


def test_bm25_ranks_the_document_that_answers_first():
    index = ChunkIndex.build(World.seed().documents)
    every = [c.id for c in index.chunks]
    hits = index.rank("how often do we rotate the break-glass keys", among=every)
    assert hits and hits[0].chunk.title == "Admin credentials policy"
    runbook = index.rank("platform on-call runbook", among=every)
    assert {h.chunk.title for h in runbook[:2]} == {"Platform runbook", "Platform on-call rota"}
    assert [h.score for h in runbook] == sorted((h.score for h in runbook), reverse=True)


def test_only_the_chunks_allowed_are_ranked():
    index = ChunkIndex.build(World.seed().documents)
    allowed = [c.id for c in index.chunks if c.visibility != "admin"]
    hits = index.rank("how often do we rotate the break-glass keys", among=allowed)
    assert all(h.chunk.visibility != "admin" for h in hits)
    assert index.rank("break-glass keys", among=[]) == []


def test_a_query_with_no_matching_word_finds_nothing():
    index = ChunkIndex.build(World.seed().documents)
    assert index.rank("zyxxy quux", among=[c.id for c in index.chunks]) == []
    assert index.rank("the and of", among=[c.id for c in index.chunks]) == []  # stopwords


def test_building_an_index_prints_no_debug_lines(caplog):
    """bm25s sets its own logger to DEBUG; with any root handler (a notebook, a script) each
    index printed 'Building index from IDs objects'."""
    with caplog.at_level(logging.DEBUG):
        ChunkIndex.build(World.seed().documents).rank("runbook", [])
    assert [r.getMessage() for r in caplog.records if r.name.startswith("bm25s")] == []


def test_scores_among_what_may_be_seen_say_nothing_of_what_may_not():
    """BM25's word weights count the chunks a word occurs in: computed over hidden chunks
    too, a visible chunk's score would move with how many hidden ones share the word."""
    public = [Document(1, "Rotation", "public", "We rotate the badge printer ribbon."),
              Document(2, "Lunch", "public", "Lunch is at noon in the canteen.")]
    hidden = [Document(10 + i, f"Secret {i}", "admin", "We rotate the break-glass keys.")
              for i in range(5)]
    visible_ids = [c.id for c in ChunkIndex.build(public).chunks]
    alone = ChunkIndex.build(public).rank("rotate", among=visible_ids)
    for extra in (hidden[:1], hidden):
        among_all = ChunkIndex.build(public + extra).rank("rotate", among=visible_ids)
        assert [(h.chunk.id, h.score) for h in among_all] == [
            (h.chunk.id, h.score) for h in alone]
