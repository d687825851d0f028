"""StackHandle: one IdP and one OPA however many callers start it at once."""

from __future__ import annotations

import asyncio

import pytest

from runtime.settings import Settings
from runtime.stack_handle import StackHandle, StackUnavailable


async def test_callers_starting_together_share_one_stack():
    handle = StackHandle(Settings())
    try:
        results = await asyncio.gather(*(handle.start() for _ in range(4)))
        assert len({id(r) for r in results}) == 1
        idp = handle.idp
        assert idp is not None
        served = results[0].issuer.rsplit("/realms/", 1)[0]
        assert idp.base_url == served  # type: ignore[attr-defined]
    finally:
        await handle.stop()
    assert handle.idp is None and handle.endpoints is None


async def test_an_external_stack_that_does_not_answer_is_checked_again_next_time():
    settings = Settings(stack="external", keycloak_url="http://127.0.0.1:9",
                        opa_url="http://127.0.0.1:9", timeout=0.5)
    handle = StackHandle(settings)
    for _ in range(2):
        with pytest.raises(StackUnavailable):
            await handle.start()
        assert handle.endpoints is None
