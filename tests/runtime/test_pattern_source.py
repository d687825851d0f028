"""What a pattern relies on is found from its imports, with source, and can be followed."""

from __future__ import annotations

from runtime.pattern_loader import PatternInfo, find
from runtime.pattern_source import calls, find_shared, shared_code, unified_diff


def test_shared_code_of_p08_names_each_preset_with_its_file_and_user():
    found = {c.name: c for c in shared_code(find("p08"))}
    assert found["verify_access_token"].used_in == ("mcp_auth.py", "service_auth.py")
    assert found["verify_dpop_proof"].path == "runtime/presets/dpop.py"
    assert found["verify_dpop_proof"].source.startswith("def verify_dpop_proof(")
    assert found["TOKEN_EXCHANGE"].source.startswith("TOKEN_EXCHANGE = ")
    names = [c.name for c in shared_code(find("p08"))]
    assert names.index("request_token") < names.index("TOKEN_EXCHANGE") < names.index(
        "AuthHandler")      # presets' functions, then their constants, then the API


def test_a_pattern_that_calls_nothing_shared_lists_nothing(tmp_path):
    folder = tmp_path / "p09_plain"
    folder.mkdir()
    (folder / "mcp_auth.py").write_text("import os\n")
    (folder / "service_auth.py").write_text("def (:\n")       # unparseable: nothing, no crash
    assert shared_code(PatternInfo("p09_plain", folder, "plain")) == []


def test_a_preset_can_be_followed_down_to_the_mechanism():
    code = find_shared("verify_dpop_proof")
    assert code is not None
    assert "verify_proof" in {c.name for c in calls(code)}


def test_the_diff_of_the_first_pattern_is_empty_and_later_ones_name_both_folders():
    assert unified_diff(None, find("p01")) == ""
    diff = unified_diff(find("p05"), find("p06"))
    assert "--- p05_token_forwarding/mcp_auth.py" in diff and "TOKEN_EXCHANGE" in diff
