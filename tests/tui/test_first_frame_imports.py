"""The explorer's first frame loads the UI, not the agent: the libraries the runtime needs
(the SDKs, the servers, the HTTP clients, JOSE) load after it, in the runtime's thread.
Measured in a fresh interpreter, since this one has loaded everything already."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AFTER_THE_FIRST_FRAME = ("openai", "mcp", "fastapi", "uvicorn", "starlette", "httpx",
                         "httpx2", "jwt", "cryptography", "regopy", "bm25s")

PROBE = f"""
import json, sys
from runtime.settings import Settings
from tui.app import AgentAuthApp
app = AgentAuthApp(Settings(demo=True), tour=False)
print(json.dumps(sorted(m for m in {AFTER_THE_FIRST_FRAME!r} if m in sys.modules)))
"""


def test_building_the_explorer_loads_none_of_the_runtime_libraries():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


READY_PROBE = """
import asyncio, gc, json, sys
from runtime import pause_collector
pause_collector()   # as `agent-auth` starts
from runtime.settings import Settings
from tui.app import AgentAuthApp
from tui.screens.runs import RunsMixin

# what is loaded the instant the first pattern is up (ready is set right after): sampled
# here, not when the test's coroutine next runs, which on a busy machine is after the
# warm-up's thread has loaded more
loaded_when_up = []
select_runtime = RunsMixin.select_runtime

async def sampling(self, pattern_id):
    await select_runtime(self, pattern_id)
    loaded_when_up.append("openai" in sys.modules)

RunsMixin.select_runtime = sampling

async def main():
    app = AgentAuthApp(Settings(demo=True), tour=False)
    async with app.run_test(size=(120, 40)):
        await app.wait_until_ready()
        at_ready = loaded_when_up[0]
        await asyncio.wait_for(app.main_screen.settled.wait(), 30)
        await asyncio.sleep(0.2)
        print(json.dumps({"at_ready": at_ready, "settled": "openai" in sys.modules,
                          "collecting": gc.isenabled(), "frozen": gc.get_freeze_count() > 0}))
asyncio.run(main())
"""


def test_the_model_sdk_loads_after_the_explorer_is_ready_and_before_the_first_prompt():
    """The openai SDK (~0.3 s) is not part of getting ready: the first pattern is up without
    it, and the warm-up loads it right after, so a first prompt does not wait for it. Then
    the start-up heap is settled: frozen, and the collector running again."""
    out = subprocess.run([sys.executable, "-c", READY_PROBE], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "at_ready": False, "settled": True, "collecting": True, "frozen": True}
