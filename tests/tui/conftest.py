"""TUI test fixtures: the demo settings (frozen clock, fixed keys), a stable display and
preferences in the test's own directory (never a developer's saved state).

Pattern titles are pinned here (from the folder names) so narrative edits do not churn the
snapshots; everything else is the real app on the real embedded runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tui_helpers import stable_patterns

from runtime.settings import Settings
from tui.app import AgentAuthApp
from tui.preferences import Places


@pytest.fixture
def demo_settings() -> Settings:
    return Settings(demo=True)


@pytest.fixture
def make_app(tmp_path: Path, demo_settings: Settings) -> Callable[..., AgentAuthApp]:
    def build(*, patterns: tuple[str, ...] | None = None, settings: Settings | None = None,
              **kwargs: object) -> AgentAuthApp:
        return AgentAuthApp(settings or demo_settings, stable=kwargs.pop("stable", True),
                            tour=False, places=kwargs.pop("places", None)  # type: ignore[arg-type]
                            or Places.under(tmp_path / "places"),
                            export_dir=tmp_path / "exports",
                            patterns=kwargs.pop("pattern_infos", None)  # type: ignore[arg-type]
                            or stable_patterns(patterns), **kwargs)  # type: ignore[arg-type]

    return build
