"""Services answer with their records' fields as `dataclasses.asdict` would give them."""

from __future__ import annotations

import dataclasses

from runtime.services.guard import AuditRecord
from runtime.services.world import KeySource, World, as_json


def test_every_record_a_service_answers_with_matches_asdict():
    world = World.seed(KeySource(fixed=True))
    records = [*world.expenses.values(), *world.documents.values(), *world.notes,
               *world.users.values(),
               AuditRecord("t", "records", "read_expenses", True, 200, "alice", "agent",
                           "jwt", True, ("records-service",), "OPA", "ok",
                           {"type": "expense", "owner": {"id": "x"}}, ("agent",), ("a", "b"))]
    assert len(records) > 10
    for record in records:
        assert as_json(record) == dataclasses.asdict(record)
        assert as_json(record) is not vars(record)   # a new dict: the answer can't touch it
