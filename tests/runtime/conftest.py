from collections.abc import AsyncIterator

import pytest_asyncio

from runtime.runner import PatternRunner
from runtime.stack_handle import StackHandle


@pytest_asyncio.fixture
async def p01(stack: StackHandle) -> AsyncIterator[PatternRunner]:
    async with PatternRunner("p01", stack=stack) as runner:
        yield runner
