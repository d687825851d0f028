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
def private_places(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes a developer's saved explorer state, config or exports: the
    explorer's own variables and the XDG ones platformdirs follows point at a fresh dir."""
    root = tmp_path_factory.mktemp("home")
    for name in ("AGENT_AUTH_CONFIG_DIR", "AGENT_AUTH_STATE_DIR", "AGENT_AUTH_EXPORT_DIR",
                 "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, str(root / name.lower()))
