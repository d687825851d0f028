"""Print, for each pattern, the Identity the records service extracted in L1 (a real run).

The narratives quote these printouts under "What the service sees". `--update` rewrites
those blocks in place; the run uses the demo clock and writes ports and the MCP server's key
thumbprint as placeholders, so the output only changes when the lesson does, and
tests/patterns/test_narratives.py checks that the narratives agree with it.

    uv run python scripts/identity_printouts.py [--update]
"""

from __future__ import annotations

import asyncio
import json
import re
import sys

from runtime.pattern_loader import PatternInfo, discover
from runtime.runner import PatternRunner
from runtime.settings import DEMO_EPOCH, Settings
from runtime.stack_handle import StackHandle
from stack.clock import Clock

SHOWN_CLAIMS = ("iss", "sub", "aud", "azp", "preferred_username", "role", "department",
                "act", "cnf", "exp", "iat")
SECTION = "## What the service sees"
_PORT = re.compile(r"127\.0\.0\.1:\d+")
_BLOCK = re.compile(r"```json\n.*?\n```", re.DOTALL)


async def printouts() -> dict[str, str]:
    """pattern id -> the JSON printout of what records saw in L1."""
    stack = StackHandle(Settings(), clock=Clock(fixed=DEMO_EPOCH))
    await stack.start()
    out = {}
    try:
        for info in discover():
            async with PatternRunner(info, stack=stack) as runner:
                await runner.run_step("L1")
                audit = next(h for h in runner.tap.hops if h.kind == "audit"
                             and h.source == "records")
                view = dict(audit.data["identity"])
                claims = view.pop("claims")
                view["claims"] = {k: claims[k] for k in SHOWN_CLAIMS if k in claims}
                if "cnf" in view["claims"]:
                    view["claims"]["cnf"]["jkt"] = "<thumbprint of the MCP server's key>"
                text = json.dumps(view, indent=2)
                out[info.id] = _PORT.sub("127.0.0.1:<port>", text)
    finally:
        await stack.stop()
    return out


def update(info: PatternInfo, printout: str) -> bool:
    text = info.narrative_path.read_text(encoding="utf-8")
    start = text.index(SECTION)
    new = text[:start] + _BLOCK.sub(lambda _: f"```json\n{printout}\n```", text[start:], 1)
    if new != text:
        info.narrative_path.write_text(new, encoding="utf-8")
    return new != text


def main() -> None:
    found = asyncio.run(printouts())
    for info in discover():
        if "--update" in sys.argv:
            changed = update(info, found[info.id])
            print(f"{info.id}: {'updated' if changed else 'unchanged'}")
        else:
            print(f"## {info.id} {info.title}\n{found[info.id]}")


if __name__ == "__main__":
    main()
