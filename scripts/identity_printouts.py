"""Print, for each pattern, the Identity the records service extracted in L1 (real run).

The pattern narratives quote these printouts: `uv run python scripts/identity_printouts.py`.
"""

from __future__ import annotations

import asyncio
import json

from runtime.pattern_loader import discover
from runtime.runner import PatternRunner
from runtime.settings import Settings
from runtime.stack_handle import StackHandle

SHOWN_CLAIMS = ("iss", "sub", "aud", "azp", "preferred_username", "role", "department",
                "act", "cnf", "exp", "iat")


async def main() -> None:
    stack = StackHandle(Settings())
    await stack.start()
    try:
        for info in discover():
            async with PatternRunner(info, stack=stack) as runner:
                await runner.run_step("L1")
                audit = next(h for h in runner.tap.hops if h.kind == "audit"
                             and h.source == "records")
                view = dict(audit.data["identity"])
                claims = view.pop("claims")
                view["claims"] = {k: claims[k] for k in SHOWN_CLAIMS if k in claims}
                print(f"## {info.id} {info.title}")
                print(json.dumps(view, indent=2))
    finally:
        await stack.stop()


if __name__ == "__main__":
    asyncio.run(main())
