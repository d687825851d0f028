"""Each pattern's auth logic is in its own two files, readable on one screen, and the diff
between consecutive patterns shows the boundary move as code (issue: patterns you can read)."""

from __future__ import annotations

import ast
import difflib
import importlib

import pytest

from runtime.pattern_loader import PatternInfo, discover

PATTERNS: dict[int, PatternInfo] = {info.number or 0: info for info in discover()}
FILES = ("mcp_auth.py", "service_auth.py")
ALLOWED_IMPORTS = ("runtime.pattern_api", "runtime.presets", "typing", "starlette.requests")
#: a pattern that changes nothing on one side takes the previous pattern's file whole
REUSED = {(10, "mcp_auth.py"): ("patterns.p09_delegation_chain.mcp_auth",)}


def _changes(before: int, after: int, file: str) -> tuple[str, str]:
    """(added, removed) lines between pattern `before` and `after` in `file`."""
    old = PATTERNS[before].code(file).splitlines()
    new = PATTERNS[after].code(file).splitlines()
    diff = list(difflib.unified_diff(old, new, lineterm="", n=0))
    added = "\n".join(d[1:] for d in diff if d.startswith("+") and not d.startswith("+++"))
    removed = "\n".join(d[1:] for d in diff if d.startswith("-") and not d.startswith("---"))
    return added, removed


@pytest.mark.parametrize("n", range(1, 11), ids=lambda n: f"p{n:02d}")
@pytest.mark.parametrize("file", FILES)
def test_each_file_is_readable_on_one_screen(n, file):
    lines = PATTERNS[n].code(file).splitlines()
    assert len(lines) <= 100, f"p{n:02d}/{file} has {len(lines)} lines"
    assert max(len(line) for line in lines) <= 100


@pytest.mark.parametrize("n", range(1, 11), ids=lambda n: f"p{n:02d}")
@pytest.mark.parametrize("file", FILES)
def test_a_pattern_imports_only_the_plugin_api_and_the_presets(n, file):
    tree = ast.parse(PATTERNS[n].code(file))
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    modules |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for a in node.names}
    allowed = set(ALLOWED_IMPORTS) | set(REUSED.get((n, file), ()))
    assert modules <= allowed, f"p{n:02d}/{file} imports {modules}"


def test_pattern_10_takes_pattern_09s_mcp_side_whole():
    # Pattern 10 changes retrieval only: its MCP side is pattern 09's, imported, not copied.
    p09 = importlib.import_module("patterns.p09_delegation_chain.mcp_auth")
    p10 = importlib.import_module("patterns.p10_retrieval_authz.mcp_auth")
    assert p10.auth_handler is p09.auth_handler
    assert "class " not in PATTERNS[10].code("mcp_auth.py")


@pytest.mark.parametrize(("before", "after", "file", "appears", "goes"), [
    (4, 5, "mcp_auth.py", ['headers["Authorization"] = f"Bearer {user_context.jwt}"'],
     ['headers["X-API-Key"]']),
    (4, 5, "service_auth.py", ["authorization_token(request)", "verify_access_token("],
     ["owner_of_api_key("]),
    (5, 6, "mcp_auth.py", ['"grant_type": TOKEN_EXCHANGE', '"subject_token":',
                           '"subject_token_type":', '"audience": outgoing.audience'],
     ["f\"Bearer {user_context.jwt}\""]),
    (5, 6, "service_auth.py", ['ask_opa(', '"agentauth/rbac/decision"', '"action": action',
                               'claims["aud"] not in', 'claims["azp"] != "mcp-server"'],
     ["ALLOWED = "]),
    (6, 7, "mcp_auth.py", ['"actor_token": user_context.actor_token', '"actor_token_type":',
                           'actor_credential = "actor_token"'], []),
    (6, 7, "service_auth.py", ["actor_from(claims)", '"agentauth/rebac/decision"'],
     ['"agentauth/rbac/decision"']),
    (7, 8, "mcp_auth.py", ["dpop_proof=sign_dpop_proof(", 'f"DPoP {issued.access_token}"',
                           'headers["DPoP"] = sign_dpop_proof('],
     ['f"Bearer {issued.access_token}"']),
    (7, 8, "service_auth.py", ['authorization_token(request, scheme="DPoP")', "bound=True",
                               "verify_dpop_proof(request"], []),
    (8, 9, "mcp_auth.py", ["async def delegate(", '"scope": f"mcp:tools {delegation.scope}',
                           '"audience": delegation.sub_agent', '"scope": " ".join(granted)'],
     []),
    (8, 9, "service_auth.py", ["prior_actors_from(claims)", '"agentauth/chain/decision"'],
     ['"agentauth/rebac/decision"']),
    (9, 10, "service_auth.py", ["async def visible(", "ask_opa_filter(",
                                '"agentauth/retrieval/filter"'], []),
], ids=lambda v: str(v) if isinstance(v, int | str) and not isinstance(v, list) else "")
def test_consecutive_diffs_show_the_boundary_move_as_code(before, after, file, appears, goes):
    added, removed = _changes(before, after, file)
    for text in appears:
        assert text in added, f"p{before:02d}->p{after:02d} {file}: {text!r} does not appear"
    for text in goes:
        assert text in removed, f"p{before:02d}->p{after:02d} {file}: {text!r} does not go"


def test_the_diff_check_fails_when_nothing_moved():
    added, removed = _changes(3, 3, "service_auth.py")
    assert added == removed == ""
