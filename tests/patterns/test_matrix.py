"""The teaching contract (DESIGN.md section 4): every cell, measured on the embedded stack."""

import json

import pytest

from runtime.contract import EXPECTED, expected
from runtime.matrix import Cell, MatrixResult, run_matrix_forked
from runtime.script import STEP_IDS
from runtime.settings import Settings

PATTERNS = [f"p{n:02d}" for n in range(1, 11)]
CELLS = [(step, n) for step in STEP_IDS for n in range(1, 11)]


@pytest.mark.parametrize(("step", "number"), CELLS, ids=[f"{s}-p{n:02d}" for s, n in CELLS])
def test_cell_matches_the_teaching_contract(matrix: MatrixResult, step, number):
    cell = matrix.cell(step, f"p{number:02d}")
    assert cell is not None
    assert cell.actual == expected(step, number), (
        f"{step} under p{number:02d}: {[p.__dict__ for p in cell.result.parts]}"
    )


def test_the_matrix_is_complete_and_ok(matrix: MatrixResult):
    assert matrix.patterns == PATTERNS
    assert list(matrix.steps) == list(STEP_IDS)
    assert len(matrix.cells) == 10 * 14 and matrix.ok


@pytest.mark.parametrize("n", range(1, 10))
def test_attack_n_is_first_blocked_by_pattern_n_plus_1_and_stays_blocked(matrix, n):
    step = f"A{n}"
    row = [matrix.cell(step, p).actual for p in PATTERNS]
    assert row[:n] == ["ALLOW"] * n, f"{step} should succeed up to p{n:02d}: {row}"
    assert row[n:] == ["DENY"] * (10 - n), f"{step} should be blocked from p{n + 1:02d}: {row}"


def test_expected_table_itself_has_the_staircase_shape():
    for n in range(1, 10):
        assert EXPECTED[f"A{n}"] == "A" * n + "D" * (10 - n)
    for step in ("L1", "L2", "L4", "L5"):
        assert EXPECTED[step] == "A" * 10       # legitimate work is never refused
    assert EXPECTED["L3"] == "AADDDDAAAA"       # RBAC too coarse from 03 to 06


def test_legitimate_data_each_user_sees(matrix: MatrixResult):
    assert matrix.cell("L1", "p01").detail.startswith("sees 8 expenses")
    assert matrix.cell("L1", "p02").detail.startswith("sees 8 expenses")
    for p in PATTERNS[2:]:
        assert matrix.cell("L1", p).detail == "sees 4 expenses (owners: alice)", p
        assert matrix.cell("L2", p).detail == "sees 4 documents", p
    assert matrix.cell("L2", "p01").detail == "sees 6 documents"
    assert matrix.cell("L4", "p05").detail == "sees 3 users"


def test_cells_record_who_decided_and_whom_the_audit_names(matrix: MatrixResult):
    assert matrix.cell("L1", "p01").decided_by == "nobody"
    assert matrix.cell("A1", "p02").decided_by == "service"
    assert matrix.cell("L3", "p06").decided_by == "OPA"
    assert matrix.cell("A6", "p07").decided_by == "OPA"
    assert matrix.cell("A6", "p07").audit.startswith("alice (actor ")
    assert matrix.cell("A7", "p08").audit == "nobody (credential rejected)"
    assert matrix.cell("L1", "p02").audit == "the agent"


def test_a3_under_p03_leaks_alices_key_and_dave_reuses_it(matrix: MatrixResult):
    parts = matrix.cell("A3", "p03").result.parts
    assert parts[0].succeeded and parts[1].succeeded
    assert parts[1].audit == "alice"  # dave's action is attributed to alice: partial audit


def test_a3_under_p04_leaks_nothing_and_dave_is_refused(matrix: MatrixResult):
    leak, reuse = matrix.cell("A3", "p04").result.parts
    assert not leak.succeeded and not reuse.succeeded and reuse.audit == "dave"


def test_measured_columns_match_the_pattern_table(matrix: MatrixResult):
    """Every measured column of every pattern equals the contract's (runtime/contract.py,
    the one table the scoreboard reads too)."""
    from runtime.contract import COLUMN_NAMES, EXPECTED_COLUMNS

    assert matrix.column_mismatches() == []
    assert {p: tuple(matrix.columns[p][name] for name in COLUMN_NAMES)
            for p in PATTERNS} == {p: EXPECTED_COLUMNS[p] for p in PATTERNS}


def test_a_column_that_differs_from_the_contract_fails_the_matrix(matrix, monkeypatch):
    from runtime import contract

    changed = dict(contract.EXPECTED_COLUMNS)
    changed["p05"] = ("service", "yes (bound JWT)", "yes", "no", "yes")
    monkeypatch.setattr(contract, "EXPECTED_COLUMNS", changed)
    assert matrix.column_mismatches() == [
        ("p05", "tool sees real user", "yes (bound JWT)", "yes (JWT)")]
    assert not matrix.ok and matrix.to_json()["ok"] is False


def test_matrix_json_has_the_documented_shape(matrix: MatrixResult):
    data = json.loads(json.dumps(matrix.to_json()))
    assert data["ok"] is True and data["patterns"] == PATTERNS
    assert data["steps"] == list(STEP_IDS)
    cell = next(c for c in data["cells"] if c["step"] == "A3" and c["pattern"] == "p03")
    assert {"step", "pattern", "expected", "actual", "decided_by", "audit"} <= set(cell)
    assert set(data["columns"]["p05"]) == {"authz lives", "tool sees real user", "crypto proof",
                                           "least privilege", "audit trail"}


def test_the_matrix_forked_over_processes_gives_the_same_cells(matrix: MatrixResult):
    steps = ("L1", "A3", "A7")
    forked = run_matrix_forked(Settings(), ["p01", "p04", "p08"], steps, workers=2)
    assert forked.ok and forked.patterns == ["p01", "p04", "p08"]

    def seen(cell: Cell) -> tuple[str, str, str, str, str]:
        return cell.step, cell.pattern, cell.actual, cell.decided_by, cell.audit

    assert [seen(c) for c in forked.cells] == [
        seen(c) for p in forked.patterns for s in steps if (c := matrix.cell(s, p))]

def test_l5_answers_only_from_documents_dave_may_read_from_p10_on(matrix: MatrixResult):
    for p in PATTERNS[:9]:
        assert "Engineering roadmap" in matrix.cell("L5", p).detail, p
    assert matrix.cell("L5", "p10").detail == (
        "finds 2 passages (from Platform on-call rota, Platform runbook)")


def test_a8_names_the_whole_chain_from_p09_and_only_the_agent_before(matrix: MatrixResult):
    assert matrix.cell("A8", "p08").audit == "alice (actor agent)"
    for p in ("p09", "p10"):
        cell = matrix.cell("A8", p)
        assert cell.audit == "alice (actor summarizer, delegated by agent)"
        assert cell.decided_by == "OPA"
        assert "post_note needs scope acme:write" in cell.result.parts[0].reason


def test_a9_is_filtered_by_opa_at_p10_and_by_nobody_before(matrix: MatrixResult):
    assert matrix.cell("A9", "p09").decided_by == "nobody"
    assert "Admin credentials policy" in matrix.cell("A9", "p09").result.parts[0].reason
    cell = matrix.cell("A9", "p10")
    assert cell.decided_by == "OPA" and "chunks visible to dave" in cell.result.parts[0].reason
