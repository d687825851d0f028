"""Fixtures shared by every test folder."""

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from runtime.settings import Settings
from runtime.stack_handle import StackHandle


@pytest_asyncio.fixture
async def stack() -> AsyncIterator[StackHandle]:
    """The embedded IdP and OPA, started for one test."""
    handle = StackHandle(Settings())
    await handle.start()
    yield handle
    await handle.stop()


@pytest.fixture(autouse=True)
def private_state(tmp_path_factory, monkeypatch):
    """No test reads or writes a developer's saved state (challenge progress, ...)."""
    monkeypatch.setenv("AGENT_AUTH_STATE_DIR", str(tmp_path_factory.mktemp("state")))
