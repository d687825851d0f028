"""DemoTour: `agent-auth --demo` plays a fixed tour for screencasts, through the app's actions.

The runtime runs with a frozen clock and fixed keys (see `Settings.new_clock` and
`KeySource(fixed=True)`), so the tour shows the same tokens, keys and outcomes every time.
Any key press by the viewer still works; the tour just keeps going around it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from runtime import Hop
from tui.widgets.chat_pane import PromptInput
from tui.widgets.hop_detail import HopDetail
from tui.widgets.wire_view import WireView

if TYPE_CHECKING:
    from tui.screens.main_screen import MainScreen


class DemoTour:
    def __init__(self, screen: MainScreen, speed: float = 1.0) -> None:
        self.screen = screen
        self.speed = speed

    async def pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self.speed)

    def caption(self, text: str) -> None:
        self.screen.notify(text, title="Tour", timeout=6 * max(self.speed, 0.2))

    async def until_idle(self) -> None:
        session = self.screen.explorer.session
        while self.screen.busy or session.runner is None or (
                session.runner.id != self.screen.pattern):
            await asyncio.sleep(0.05)

    async def pattern(self, pattern_id: str) -> None:
        self.screen.switch_pattern(pattern_id)
        await self.until_idle()
        await self.pause(0.8)

    async def ask(self, text: str) -> None:
        screen = self.screen
        screen.action_focus_pane("chat")
        box = screen.query_one(PromptInput)
        for index in range(1, len(text) + 1):
            box.value = text[:index]
            await asyncio.sleep(0.03 * self.speed)
        await self.pause(0.3)
        box.value = ""
        screen.send_prompt(text)
        await asyncio.sleep(0.1)
        await self.until_idle()
        await self.pause(1.2)

    async def step(self, step_id: str) -> None:
        self.screen.run_step(step_id)
        await asyncio.sleep(0.1)
        await self.until_idle()
        await self.pause(1.5)

    async def inspect(self, wanted: Callable[[Hop], bool], tab: str) -> None:
        screen = self.screen
        screen.action_focus_pane("wire")
        wire = screen.query_one(WireView)
        rows = [i for i, hop in enumerate(wire.shown) if wanted(hop)]
        if rows:
            wire.table.move_cursor(row=rows[-1], animate=False)
            screen.query_one(HopDetail).active = f"tab-{tab}"
        await self.pause(2.5)

    async def play(self) -> None:
        await self.pause(1.0)
        self.caption("Pattern 01, no auth: alice asks for her expenses.")
        await self.pattern("p01")
        await self.ask("What are my expenses?")
        self.caption("With no auth, the agent sees every expense, not just alice's.")
        await self.inspect(lambda h: h.kind == "service", "body")
        self.caption("Pattern 05 forwards alice's token: the service now knows who asks.")
        await self.pattern("p05")
        await self.ask("What are my expenses?")
        await self.inspect(lambda h: h.kind == "service" and bool(h.tokens), "jwt")
        self.caption("But a compromised service can replay that token elsewhere (A5).")
        await self.step("A5")
        self.caption("Pattern 06 exchanges the token for one scoped to a single service.")
        await self.pattern("p06")
        await self.step("A5")
        await self.inspect(lambda h: "token-exchange" in h.summary, "diff")
        self.caption("Pattern 07: bob may approve alice's expense because he manages her.")
        self.screen.switch_user("bob")
        await self.pattern("p07")
        await self.ask("Approve Alice's expense 4.")
        self.caption("Pattern 08 binds the token to a key: a stolen token alone is useless.")
        await self.pattern("p08")
        await self.step("A7")
        self.caption("Finally, the whole script under every pattern.")
        self.leave_prompt()
        self.screen.action_run_script()
        await self.pause(3.0)
        self.leave_prompt()
        self.caption("Tour done. Press ? for the keys, ctrl+p for every command.")

    def leave_prompt(self) -> None:
        """Focus the wire, so keys act as keys again (`q` quits instead of typing a q)."""
        self.screen.action_focus_pane("wire")
