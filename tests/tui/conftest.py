"""TUI test fixtures: the demo settings (frozen clock, fixed keys) and a stable display.

Pattern titles are pinned here (from the folder names) so narrative edits do not churn the
snapshots; everything else is the real app on the real embedded runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from runtime.pattern_loader import PatternInfo, discover
from runtime.settings import Settings
from tui.app import AgentAuthApp

SNAPSHOT_SIZES = {"small": (80, 24), "large": (160, 48)}


def stable_patterns(ids: tuple[str, ...] | None = None) -> list[PatternInfo]:
    found = [replace(p, title=p.folder.name.split("_", 1)[1].replace("_", " "))
             for p in discover()]
    return [p for p in found if ids is None or p.id in ids]


@pytest.fixture
def demo_settings() -> Settings:
    return Settings(demo=True)


@pytest.fixture
def make_app(tmp_path: Path, demo_settings: Settings) -> Callable[..., AgentAuthApp]:
    def build(*, patterns: tuple[str, ...] | None = None, settings: Settings | None = None,
              **kwargs: object) -> AgentAuthApp:
        return AgentAuthApp(settings or demo_settings, stable=True, tour=False,
                            export_dir=tmp_path / "exports",
                            patterns=kwargs.pop("pattern_infos", None)  # type: ignore[arg-type]
                            or stable_patterns(patterns), **kwargs)  # type: ignore[arg-type]

    return build
