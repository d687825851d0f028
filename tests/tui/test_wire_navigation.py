"""Moving around the Wire pane: maximized it still fits, keys jump to the first and last
hop and from a service call to its policy decision and audit record."""

from __future__ import annotations

import pytest
from tui_helpers import main_screen

from tui.widgets.wire_view import WireView


@pytest.mark.parametrize("size", [(160, 48), (130, 40), (80, 24)])
async def test_maximized_wire_fits_the_screen_with_every_column(make_app, size):
    app = make_app(patterns=("p01",))
    async with app.run_test(size=size) as pilot:
        await app.wait_until_ready()
        await pilot.press("4", "m")
        await pilot.pause(0.2)
        screen = main_screen(app)
        pane = screen.query_one("#pane-wire")
        assert screen.maximized is pane
        assert pane.region.right <= size[0] and pane.region.bottom <= size[1]
        wire = screen.query_one(WireView)
        assert wire.table.virtual_size.width <= wire.table.scrollable_content_region.width
        assert [name for name, _ in wire.columns][-2:] == ["st", "took"]
        await pilot.press("m")
        assert screen.maximized is None
