"""Fixtures of the embedded IdP tests: a movable clock and a test client on a fresh IdP."""

from collections.abc import AsyncIterator

import pytest

from stack.clock import Clock
from stack.idp.testing import IdPTestClient


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def kc(clock: Clock) -> AsyncIterator[IdPTestClient]:
    async with IdPTestClient.embedded(clock=clock) as client:
        yield client
