"""The notebooks as CI sees them: executed once per test run, on the embedded stack."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from notebook_builder import builder

from runtime.matrix import MatrixResult, run_matrix
from runtime.settings import Settings


@pytest.fixture(scope="session")
def executed() -> dict[Path, object]:
    """Every notebook re-executed from its committed cells, two kernels at a time: the
    executed notebook, or the exception that stopped it."""
    committed = [(path, builder.read(path)) for path, _ in builder.targets()]
    results = asyncio.run(builder.execute_all(committed, return_exceptions=True))
    return {path: result for (path, _), result in zip(committed, results, strict=True)}


@pytest.fixture(scope="session")
def matrix() -> MatrixResult:
    """The whole script under all ten patterns, as `agent-auth matrix` runs it."""
    return asyncio.run(run_matrix(Settings()))
