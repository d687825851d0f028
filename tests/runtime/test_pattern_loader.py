from pathlib import Path

import pytest

from runtime.pattern_api import AuthHandler
from runtime.pattern_loader import PATTERNS_DIR, PatternError, discover, find, load


def test_all_ten_patterns_are_discovered_in_order_with_titles():
    infos = discover()
    assert [i.id for i in infos] == [f"p{n:02d}" for n in range(1, 11)]
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
        assert isinstance(loaded.mcp.handler, AuthHandler)


def _pattern(tmp_path: Path, mcp: str | None, service: str | None) -> Path:
    folder = tmp_path / "p01_broken"
    folder.mkdir()
    (folder / "README.md").write_text("# Broken\n")
    if mcp is not None:
        (folder / "mcp_auth.py").write_text(mcp)
    if service is not None:
        (folder / "service_auth.py").write_text(service)
    return tmp_path


GOOD_MCP = "from runtime.pattern_api import AuthHandler\nauth_handler = AuthHandler()\n"
GOOD_SERVICE = "async def get_identity(request): ...\n"


def _handler(*methods: str) -> str:
    body = "".join(f"    {m}\n        return True\n" for m in methods)
    return ("from runtime.pattern_api import AuthHandler\n"
            f"class H(AuthHandler):\n{body or '    pass'}\nauth_handler = H()\n")


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


def test_missing_auth_handler_is_reported_and_the_old_name_gets_a_hint(tmp_path):
    root = _pattern(tmp_path, "handler = 42\n", GOOD_SERVICE)
    with pytest.raises(PatternError, match="must define `auth_handler`.*rename it"):
        load("p01", root)


def test_an_auth_handler_without_the_two_methods_is_reported(tmp_path):
    root = _pattern(tmp_path, "auth_handler = 42\n", GOOD_SERVICE)
    with pytest.raises(PatternError, match="auth_handler has no prepare_request"):
        load("p01", root)


def test_missing_get_identity_is_reported(tmp_path):
    root = _pattern(tmp_path, GOOD_MCP, "async def authorize(i, a, r, q): ...\n")
    with pytest.raises(PatternError, match=r"must define get_identity\(request\)"):
        load("p01", root)


def test_a_pattern_without_authorize_loads_and_serves_every_request(tmp_path):
    root = _pattern(tmp_path, GOOD_MCP, GOOD_SERVICE)
    assert load("p01", root).service.authorize_fn.__name__ == "_allow_everything"


@pytest.mark.parametrize(("method", "message"), [
    ("def prepare_request(self, user_context, headers):", "must be an `async def`"),
    ("async def prepare_request(self, user_context):", r"must take \(user_context, headers\)"),
    ("async def prepare_request(self, user_context, headers, token):",
     "parameter 'token' the framework cannot fill"),
    ("async def before_tool_call(self, user_context, tool_name, request):",
     "parameter 'request' the framework cannot fill"),
])
def test_a_hook_the_framework_cannot_call_is_reported_when_the_pattern_loads(
        tmp_path, method, message):
    root = _pattern(tmp_path, _handler(method), GOOD_SERVICE)
    with pytest.raises(PatternError, match=message):
        load("p01", root)


def test_the_optional_extras_are_discovered_from_the_signatures(tmp_path):
    root = _pattern(tmp_path, _handler(
        "async def prepare_request(self, user_context, headers, outgoing, ctx=None):",
        "async def before_tool_call(self, user_context, tool_name, *, ctx):"), GOOD_SERVICE)
    loaded = load("p01", root)
    assert loaded.mcp.prepare_extras == ("outgoing", "ctx")
    assert loaded.mcp.before_extras == ("ctx",)


def test_an_unknown_user_credential_is_reported(tmp_path):
    mcp = GOOD_MCP.replace("auth_handler = AuthHandler()",
                           "auth_handler = AuthHandler()\nauth_handler.user_credential = 'x'")
    root = _pattern(tmp_path, mcp, GOOD_SERVICE)
    with pytest.raises(PatternError, match="user_credential is 'x'"):
        load("p01", root)


def test_a_folder_path_is_a_pattern_with_its_own_id(tmp_path):
    root = _pattern(tmp_path, GOOD_MCP, GOOD_SERVICE)
    info = find(str(root / "p01_broken"))
    assert info.id == "p01_broken" and info.number is None
    assert load(info).info.folder == root / "p01_broken"


def test_a_folder_that_is_not_a_pattern_says_so(tmp_path):
    with pytest.raises(PatternError, match="neither mcp_auth.py nor service_auth.py"):
        find(str(tmp_path))
    with pytest.raises(PatternError, match="is not a folder"):
        find(str(tmp_path / "nowhere/p09"))


def test_the_real_patterns_folder_is_used_by_default():
    assert PATTERNS_DIR.name == "patterns"
