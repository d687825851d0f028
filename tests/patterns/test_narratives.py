"""The learner narratives (patterns/pNN_*/README.md) keep the shape the explorer relies on and
tell the same story as the teaching contract in runtime/script.py (DESIGN.md sections 3-4)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import textwrap
from pathlib import Path

import pytest

from runtime.contract import EXPECTED, expected
from runtime.identity import VERIFIED_METHODS
from runtime.pattern_loader import PatternInfo, discover
from runtime.script import STEP_IDS

PATTERNS: dict[int, PatternInfo] = {info.number: info for info in discover()}
ALL = range(1, 11)
BEFORE_LAST = range(1, 10)
LAST = 10
ORDERED_PARTS = ("What this pattern does", "What the service sees", "How the script goes")
_ATTACK = re.compile(r"\bA[1-9]\b")
_TABLE_ROW = re.compile(r"^\|\s*(L[1-5]|A[1-9])\s*\|\s*(ALLOW|DENY)\s*\|")
_PYTHON_BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def _text(n: int) -> str:
    return PATTERNS[n].narrative_path.read_text(encoding="utf-8")


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) for every `## ` section, ignoring lines inside code fences."""
    sections: list[tuple[str, list[str]]] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            sections.append((line[3:].strip(), []))
        elif sections:
            sections[-1][1].append(line)
    return [(heading, "\n".join(body)) for heading, body in sections]


def _section(n: int, heading: str) -> str:
    found = [body for h, body in _sections(_text(n)) if h == heading]
    assert found, f"p{n:02d} has no '## {heading}' section"
    return found[0]


def _mentions_pattern(text: str, m: int) -> bool:
    return re.search(rf"\bp{m:02d}\b|\bPattern {m:02d}\b", text) is not None


def test_every_pattern_folder_has_a_narrative():
    assert sorted(PATTERNS) == list(ALL)
    for info in PATTERNS.values():
        assert info.narrative_path.is_file(), f"{info.folder} has no README.md"


@pytest.mark.parametrize("n", ALL, ids=lambda n: f"p{n:02d}")
def test_first_line_is_a_short_title_heading_the_explorer_uses_as_the_name(n):
    first = _text(n).splitlines()[0]
    assert first.startswith("# ") and first[2:].strip(), f"p{n:02d} first line: {first!r}"
    assert len(first) < 33, f"p{n:02d} heading is {len(first)} chars: {first!r}"
    assert PATTERNS[n].title == first[2:].strip()


@pytest.mark.parametrize("n", ALL, ids=lambda n: f"p{n:02d}")
def test_narrative_has_its_parts_in_order_and_a_learner_sized_length(n):
    headings = [h for h, _ in _sections(_text(n))]
    assert tuple(headings[:3]) == ORDERED_PARTS, f"p{n:02d} sections: {headings}"
    assert 60 <= len(_text(n).splitlines()) <= 155   # with the code it quotes


def _quoted_blocks(text: str) -> list[str]:
    """The ```python blocks of a narrative, dedented."""
    return [textwrap.dedent(body) for _, body in _PYTHON_BLOCK.findall(text)]


def _quotes(block: str, code: str) -> bool:
    """Is `block` a run of consecutive lines of `code` (whatever their indentation)?"""
    wanted = [line.strip() for line in block.strip("\n").splitlines()]
    lines = [line.strip() for line in code.splitlines()]
    return any(lines[i:i + len(wanted)] == wanted for i in range(len(lines)))


@pytest.mark.parametrize("n", ALL, ids=lambda n: f"p{n:02d}")
def test_every_code_quote_in_a_narrative_is_in_the_file_it_quotes(n):
    files = {name: PATTERNS[n].code(name) for name in ("mcp_auth.py", "service_auth.py")}
    blocks = _quoted_blocks(_text(n))
    assert blocks, f"p{n:02d} narrative quotes no code"
    quoted_from = set()
    for block in blocks:
        sources = [name for name, code in files.items() if _quotes(block, code)]
        assert sources, f"p{n:02d} narrative quotes code that is in neither file:\n{block}"
        quoted_from.update(sources)
    assert quoted_from == set(files), f"p{n:02d} narrative quotes only {sorted(quoted_from)}"


def test_the_quote_check_fails_on_code_that_is_not_there():
    code = "a = 1\nif a:\n    b = 2\n"
    assert _quotes("if a:\n    b = 2", code)
    assert not _quotes("if a:\n    b = 3", code)
    assert not _quotes("a = 1\n    b = 2", code)    # not consecutive


@pytest.mark.parametrize("n", ALL, ids=lambda n: f"p{n:02d}")
def test_service_section_pastes_an_identity_printout(n):
    body = _section(n, "What the service sees")
    block = re.search(r"```json\n(.*?)\n```", body, re.DOTALL)
    assert block, f"p{n:02d}: no ```json block with the Identity printout"
    identity = json.loads(block.group(1))
    assert {"method", "user_id", "actor", "verified", "claims"} <= set(identity)
    assert identity["verified"] is (identity["method"] in VERIFIED_METHODS)


def test_the_identity_printouts_are_what_a_run_prints():
    spec = importlib.util.spec_from_file_location(
        "identity_printouts", Path(__file__).parents[2] / "scripts" / "identity_printouts.py")
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    printed = asyncio.run(script.printouts())
    for n, info in PATTERNS.items():
        block = re.search(r"```json\n(.*?)\n```", _section(n, "What the service sees"),
                          re.DOTALL)
        assert block and block.group(1) == printed[info.id], (
            f"p{n:02d}: run `uv run python scripts/identity_printouts.py --update`")


@pytest.mark.parametrize("n", ALL, ids=lambda n: f"p{n:02d}")
def test_script_table_shows_every_step_with_the_contracted_outcome(n):
    rows = {}
    for line in _section(n, "How the script goes").splitlines():
        match = _TABLE_ROW.match(line)
        if match:
            rows[match.group(1)] = match.group(2)
    assert list(rows) == list(STEP_IDS), f"p{n:02d} table steps: {list(rows)}"
    wrong = {s: o for s, o in rows.items() if o != expected(s, n)}
    assert not wrong, f"p{n:02d} table disagrees with EXPECTED: {wrong}"


@pytest.mark.parametrize("n", BEFORE_LAST, ids=lambda n: f"p{n:02d}")
def test_what_went_wrong_is_last_and_names_the_attack_the_next_pattern_stops(n):
    heading, body = _sections(_text(n))[-1]
    assert heading == "What went wrong", f"p{n:02d} ends with '## {heading}'"
    assert re.search(rf"\bA{n}\b", body), f"p{n:02d}: 'What went wrong' does not name A{n}"
    assert _mentions_pattern(body, n + 1), f"p{n:02d}: does not name p{n + 1:02d}"


@pytest.mark.parametrize("n", BEFORE_LAST, ids=lambda n: f"p{n:02d}")
def test_what_went_wrong_agrees_with_the_teaching_contract(n):
    body = _section(n, "What went wrong")
    named = _ATTACK.search(body)
    assert named, f"p{n:02d}: 'What went wrong' names no attack step"
    step = named.group(0)
    row = EXPECTED[step]  # type: ignore[index]
    assert expected(step, n) == "ALLOW", f"{step} does not succeed under p{n:02d}: {row}"
    blocker = next((m for m in range(n + 1, LAST + 1) if expected(step, m) == "DENY"), None)
    assert blocker is not None, f"{step} is never blocked after p{n:02d}: {row}"
    assert all(expected(step, m) == "DENY" for m in range(blocker, LAST + 1)), row
    assert _mentions_pattern(body, blocker), f"p{n:02d}: {step} is first blocked by p{blocker:02d}"
    assert not any(_mentions_pattern(body, m) for m in range(n + 1, blocker))


def test_pattern_10_ends_with_what_is_still_open_and_says_a9_is_stopped():
    text = _text(LAST)
    heading, body = _sections(text)[-1]
    assert heading == "What is still open"
    for topic in ("memory", "hardware", "consent", "attributes"):
        assert topic in body.lower(), f"'What is still open' does not cover {topic!r}"
    assert re.search(r"\bA9\b[^\n]*\b(stopped|blocked)\b", text)
    assert expected("A9", LAST) == "DENY"


def test_pattern_08_hands_multi_agent_delegation_to_pattern_09():
    body = _section(8, "What went wrong")
    assert "sub-agent" in body and "act" in body and expected("A8", 9) == "DENY"


def test_pattern_05_says_token_passthrough_is_forbidden_by_the_mcp_specification():
    text = _text(5).lower()
    assert "token passthrough" in text
    assert "mcp specification" in text
    assert "must not pass through" in text
    assert "names every service" in _section(5, "What went wrong")


@pytest.mark.parametrize(("n", "facts"), [
    (6, ("RFC 8693", "stack/opa/rbac.rego", "bob has user", "alice is an admin")),
    (7, ("act", "azp", "act.sub", "Keycloak 26", "stack/opa/rebac.rego",
         "stack/opa/data.json", "reports_to", "only the human")),
    (8, ("RFC 9449", "cnf.jkt", "htm", "htu", "iat", "jti", "ath", "§4.3")),
    (9, ("RFC 8693", "may_act", "§4.1", "MAX_CHAIN", "invalid_scope", "acme:read",
         "stack/opa/chain.rego", "X-Explorer-Delegation", "Keycloak 26.7")),
    (10, ("BM25", "bm25s", "one POST to OPA per search", "stack/opa/retrieval.rego",
          "visibility", "Keycloak 26.7")),
], ids=lambda v: f"p{v:02d}" if isinstance(v, int) else "")
def test_secure_patterns_name_the_mechanism_they_rely_on(n, facts):
    text = _text(n)
    missing = [f for f in facts if f not in text]
    assert not missing, f"p{n:02d} narrative does not mention {missing}"


_ROW = re.compile(r"^\|\s*(L[1-5]|A[1-9])\s*\|\s*(ALLOW|DENY)\s*\|([^|]*)\|([^|]*)\|(.*)\|\s*$")
_QUOTED = re.compile(r'"([^"]{6,})"')


def _table_rows(n: int) -> dict[str, tuple[str, str, str]]:
    rows = {}
    for line in _section(n, "How the script goes").splitlines():
        match = _ROW.match(line)
        if match:
            step, _, decided, audit, measured = match.groups()
            rows[step] = (decided.strip(), audit.strip(), measured.strip())
    return rows


@pytest.mark.parametrize("n", ALL, ids=lambda n: f"p{n:02d}")
def test_the_script_table_says_what_the_run_measured(n, matrix):
    """Who decided, whom the audit names, and every reason the table quotes are the run's."""
    wrong = []
    for step, (decided, audit, measured) in _table_rows(n).items():
        cell = matrix.cell(step, f"p{n:02d}")
        assert cell is not None
        if decided != cell.decided_by:
            wrong.append(f"{step} decided by {decided!r}, the run says {cell.decided_by!r}")
        if audit != cell.audit:
            wrong.append(f"{step} audit names {audit!r}, the run says {cell.audit!r}")
        said = " ".join([cell.detail, *(f"{p.reason} {p.audit}" for p in cell.result.parts)])
        fragments = [f.strip() for q in _QUOTED.findall(measured) for f in q.split("…")]
        for quote in filter(None, fragments):
            if quote not in said:
                wrong.append(f"{step} quotes {quote!r}; the run said {said!r}")
    assert not wrong, f"p{n:02d}:\n" + "\n".join(wrong)
