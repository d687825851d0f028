from pathlib import Path

import pytest

from runtime.pattern_api import AuthHandler
from runtime.pattern_loader import PATTERNS_DIR, PatternError, discover, find, load


def test_all_eight_patterns_are_discovered_in_order_with_titles():
    infos = discover()
    assert [i.id for i in infos] == [f"p0{n}" for n in range(1, 9)]
    assert all(i.title for i in infos)


@pytest.mark.parametrize("name", ["p05", "5", "05", "P05", "p05_token_forwarding"])
def test_patterns_are_found_by_id_number_or_folder(name):
    assert find(name).id == "p05"


def test_unknown_pattern_says_which_exist():
    with pytest.raises(PatternError, match="unknown pattern 'p99'.*p01"):
        find("p99")


def test_every_pattern_folder_holds_exactly_two_code_files_and_a_narrative():
    for info in discover():
        code = sorted(p.name for p in info.folder.glob("*.py"))
        assert code == ["mcp_auth.py", "service_auth.py"], info.id
        assert info.narrative_path.is_file()


def test_every_pattern_loads():
    for info in discover():
        loaded = load(info)
        assert isinstance(loaded.handler, AuthHandler)


def _pattern(tmp_path: Path, mcp: str | None, service: str | None) -> Path:
    folder = tmp_path / "p01_broken"
    folder.mkdir()
    (folder / "README.md").write_text("# Broken\n")
    if mcp is not None:
        (folder / "mcp_auth.py").write_text(mcp)
    if service is not None:
        (folder / "service_auth.py").write_text(service)
    return tmp_path


GOOD_MCP = "from runtime.pattern_api import AuthHandler\nhandler = AuthHandler()\n"
GOOD_SERVICE = "async def get_identity(r, c): ...\nasync def authorize(i, a, r, c): ...\n"


def test_missing_file_is_reported_by_name(tmp_path):
    root = _pattern(tmp_path, GOOD_MCP, None)
    with pytest.raises(PatternError, match="service_auth.py is missing"):
        load("p01", root)


def test_import_error_is_reported_with_the_file_and_cause(tmp_path):
    root = _pattern(tmp_path, "import does_not_exist_anywhere\n", GOOD_SERVICE)
    with pytest.raises(PatternError, match="mcp_auth.py failed to import: ModuleNotFoundError"):
        load("p01", root)


def test_syntax_error_is_reported(tmp_path):
    root = _pattern(tmp_path, GOOD_MCP, "def (:\n")
    with pytest.raises(PatternError, match="service_auth.py failed to import: SyntaxError"):
        load("p01", root)


def test_missing_handler_or_wrong_type_is_reported(tmp_path):
    root = _pattern(tmp_path, "handler = 42\n", GOOD_SERVICE)
    with pytest.raises(PatternError, match="must define `handler`, an AuthHandler"):
        load("p01", root)


def test_missing_service_function_is_reported(tmp_path):
    root = _pattern(tmp_path, GOOD_MCP, "async def get_identity(r, c): ...\n")
    with pytest.raises(PatternError, match="callable `authorize`"):
        load("p01", root)


def test_the_real_patterns_folder_is_used_by_default():
    assert PATTERNS_DIR.name == "patterns"
