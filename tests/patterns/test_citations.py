"""Every standard section the narratives, the glossary and the pattern code cite is listed
in docs/citations.md with a one-line summary; every narrative links the glossary."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
CITED = re.compile(r"\b(RFC ?\d{4}|OIDC Core)(?: 1\.0)? ?(?:§|sections? )(\d+(?:\.\d+)*)")
ROW = re.compile(r"^\| ([^|]+?) \| §(\d+(?:\.\d+)*) \| (.+?) \|$", re.MULTILINE)


def _key(source: str) -> str:
    match = re.match(r"RFC ?(\d{4})", source)
    return f"RFC {match.group(1)}" if match else "OIDC Core"


def listed() -> dict[tuple[str, str], str]:
    text = (ROOT / "docs" / "citations.md").read_text(encoding="utf-8")
    return {(_key(m.group(1)), m.group(2)): m.group(3).strip() for m in ROW.finditer(text)}


def cited(text: str) -> set[tuple[str, str]]:
    return {(_key(source), section) for source, section in CITED.findall(text)}


def _texts() -> dict[str, str]:
    files = [*ROOT.glob("patterns/*/README.md"), *ROOT.glob("patterns/*/*.py"),
             ROOT / "docs" / "glossary.md", ROOT / "README.md"]
    return {str(f.relative_to(ROOT)): f.read_text(encoding="utf-8") for f in files}


def test_the_scanner_finds_the_citation_forms_we_write():
    text = "RFC 8693 §4.1, RFC 9449 section 4.3, OIDC Core §5.1 and RFC 6750 §3"
    assert cited(text) == {("RFC 8693", "4.1"), ("RFC 9449", "4.3"), ("OIDC Core", "5.1"),
                           ("RFC 6750", "3")}


def test_every_listed_section_has_a_one_line_summary():
    rows = listed()
    assert len(rows) >= 20
    assert all(len(summary) > 20 for summary in rows.values())


@pytest.mark.parametrize("name", sorted(_texts()))
def test_every_cited_section_is_listed(name):
    missing = cited(_texts()[name]) - set(listed())
    assert not missing, f"{name} cites sections not in docs/citations.md: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(str(p.relative_to(ROOT))
                                        for p in ROOT.glob("patterns/p*/README.md")))
def test_every_narrative_links_the_glossary(name):
    assert "(../../docs/glossary.md)" in (ROOT / name).read_text(encoding="utf-8")
