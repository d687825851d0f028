import asyncio

import pytest

from runtime.matrix import MatrixResult, run_matrix
from runtime.settings import Settings


@pytest.fixture(scope="session")
def matrix() -> MatrixResult:
    """The whole script under all ten patterns on the embedded stack, run once."""
    return asyncio.run(run_matrix(Settings()))
