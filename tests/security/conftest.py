"""Shared fixtures for the security suite.

`battery` runs the whole catalogue once per session (patterns 03-10: 03/04 only for the
injection cases). `live` hosts a started stack and runners for patterns 05-10 on a
background event loop, so synchronous hypothesis tests can drive them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from background import Live

from runtime.battery import BatteryResult, run_battery
from runtime.battery.core import PATTERNS_03_10, PATTERNS_05_10
from runtime.settings import Settings

BATTERY_PATTERNS = PATTERNS_03_10
TOKEN_PATTERNS = PATTERNS_05_10


@pytest.fixture(scope="session")
def battery() -> BatteryResult:
    return asyncio.run(run_battery(Settings(), patterns=BATTERY_PATTERNS))


@pytest.fixture(scope="session")
def live() -> Iterator[Live]:
    hosted = Live(*TOKEN_PATTERNS)
    yield hosted
    hosted.close()
