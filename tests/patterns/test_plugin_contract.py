"""The plugin contract as the write-up prints it: a pattern folder written to the bare
interface (`auth_handler` with two methods, `get_identity(request)`) loads and runs
unmodified, from any folder, under the runner and the CLI; a broken folder gets one clear
line and exit code 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

from agent_auth.cli import main
from runtime.runner import PatternRunner

WRITEUP_P01 = Path(__file__).parent / "plugins" / "writeup_p01_service_credential"

IDENTITY_PARAM_MCP = '''
from runtime.pattern_api import AuthHandler


class IdentityParamHandler(AuthHandler):
    async def prepare_request(self, user_context, headers):
        headers["X-API-Key"] = "shared_secret"
        user = user_context.get("user")
        if user:
            headers["X-User-Id"] = user
        return headers


auth_handler = IdentityParamHandler()
'''
IDENTITY_PARAM_SERVICE = '''
from runtime.pattern_api import Identity


async def get_identity(request):
    user_id = request.headers.get("x-user-id")
    if request.headers.get("x-api-key") != "shared_secret":
        return Identity(method="none", detail="invalid or missing API key")
    return Identity(method="string_id", user_id=user_id,
                    detail="X-User-Id accepted on trust (no crypto proof)")
'''


def _folder(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for file, text in files.items():
        (folder / file).write_text(text)
    return folder


async def test_the_writeup_p01_plugin_runs_end_to_end_unmodified(stack):
    async with PatternRunner(str(WRITEUP_P01), stack=stack) as runner:
        turn = await runner.run_as("alice", "What are my expenses?")
        hops = runner.tap.trace(turn.trace_id)
        audit = list(runner.world.audit)
    assert runner.id == "writeup_p01_service_credential"
    assert turn.error is None and "8 expenses" in turn.answer
    service = [h for h in hops if h.kind == "service"]
    assert service and ("x-api-key", "shared_secret") in service[0].request_headers
    assert [(r.method, r.user, r.decided_by, r.allowed) for r in audit] == [
        ("api_key", None, "nobody", True)]


async def test_a_plugin_reads_user_context_as_the_writeups_dict(stack, tmp_path):
    folder = _folder(tmp_path, "p02_identity_param", {
        "mcp_auth.py": IDENTITY_PARAM_MCP, "service_auth.py": IDENTITY_PARAM_SERVICE})
    async with PatternRunner(str(folder), stack=stack) as runner:
        turn = await runner.run_as("dave", "What are my expenses?")
        audit = list(runner.world.audit)
    assert [(r.method, r.user) for r in audit] == [("string_id", "dave")]
    assert "2 expenses" in turn.answer          # the service filtered by the asserted user


def test_cli_runs_a_pattern_folder(capsys):
    assert main(["run", "--pattern", str(WRITEUP_P01), "--user", "alice", "--json",
                 "What are my expenses?"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pattern"] == "writeup_p01_service_credential"
    assert "8 expenses" in data["answer"]


def test_cli_names_what_a_broken_folder_lacks_and_exits_2(capsys, tmp_path):
    folder = _folder(tmp_path, "p11_mine", {
        "mcp_auth.py": "from runtime.pattern_api import AuthHandler\nhandler = AuthHandler()\n",
        "service_auth.py": "async def get_identity(request): ...\n"})
    assert main(["run", "--pattern", str(folder), "What are my expenses?"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "mcp_auth.py must define `auth_handler`" in err


def test_a_folder_of_any_name_without_a_narrative_runs(capsys, tmp_path):
    folder = _folder(tmp_path, "mine", {name: (WRITEUP_P01 / name).read_text()
                                        for name in ("mcp_auth.py", "service_auth.py")})
    assert main(["run", "--pattern", str(folder), "--json", "What are my expenses?"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pattern"] == "mine" and "8 expenses" in data["answer"]


def test_cli_matrix_runs_a_pattern_folder_without_an_expectation(capsys):
    assert main(["matrix", "--json", "--patterns", str(WRITEUP_P01)]) == 0
    data = json.loads(capsys.readouterr().out)
    a1 = next(c for c in data["cells"] if c["step"] == "A1")
    assert a1["expected"] is None and a1["actual"] == "ALLOW"


async def test_the_readme_example_pattern_runs(stack, tmp_path):
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n# my_patterns/p11_mine/(\w+\.py)\n(.*?)```", readme, re.S)
    assert sorted(name for name, _ in blocks) == ["mcp_auth.py", "service_auth.py"]
    folder = _folder(tmp_path, "p11_mine", dict(blocks))
    async with PatternRunner(str(folder), stack=stack) as runner:
        turn = await runner.run_as("alice", "What are my expenses?")
        audit = list(runner.world.audit)
    assert turn.error is None and [r.method for r in audit] == ["api_key"]
