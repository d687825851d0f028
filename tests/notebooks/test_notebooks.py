"""The notebooks: built from the narratives, executing cleanly, committed with their outputs,
and ending with what the service saw, as the matrix measures it."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from nbformat import NotebookNode
from notebook_builder import ROOT, builder

from runtime.display import SUMMARY_COLUMNS
from runtime.script import STEP_IDS

NOTEBOOKS = [path for path, _ in builder.targets()]
PATTERN_NOTEBOOKS = [path for path in NOTEBOOKS if path.parent.name[:1] == "p"
                     and path.parent.name[1:3].isdigit()]
REBUILD = "run `uv run python scripts/build_notebooks.py --execute`"


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _cells(nb: NotebookNode) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def test_there_is_a_setup_notebook_and_one_per_pattern():
    assert _name(NOTEBOOKS[0]) == "notebooks/00-verify-setup.ipynb"
    assert [p.parent.name[:3] for p in PATTERN_NOTEBOOKS] == [f"p{n:02d}" for n in range(1, 11)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_committed_notebook_has_the_cells_the_script_builds(path):
    """The narrative (README.md) is the one source: a notebook whose cells differ from what
    scripts/build_notebooks.py makes of it is stale."""
    committed = builder.read(path)
    assert committed is not None, f"{_name(path)} is missing: {REBUILD}"
    wanted = dict(builder.targets())[path]
    assert _cells(committed) == [(c.cell_type, c.source) for c in wanted], (
        f"{_name(path)} is stale: {REBUILD}")


def test_a_changed_narrative_makes_the_notebook_stale(tmp_path):
    info = next(i for i in builder.discover() if i.id == "p05")
    patterns = [i for i in builder.discover() if i.number is not None]
    before = [c.source for c in builder.pattern_cells(info, patterns)]
    edited = tmp_path / info.folder.name
    edited.mkdir()
    for name in ("README.md", "mcp_auth.py", "service_auth.py"):
        text = (info.folder / name).read_text(encoding="utf-8")
        (edited / name).write_text(text.replace("## What went wrong", "## What went wrong\n\n"
                                                "One more sentence."), encoding="utf-8")
    moved = type(info)(info.id, edited, info.title)
    after = [c.source for c in builder.pattern_cells(moved, [*patterns[:4], moved, *patterns[5:]])]
    assert before != after and any("One more sentence." in s for s in after)


def _text(output: NotebookNode) -> str:
    if output.output_type == "stream":
        return output.text
    if output.output_type == "error":
        return "\n".join(output.traceback)
    return output.get("data", {}).get("text/plain", "")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_executes_and_its_committed_outputs_are_current(path, executed):
    result = executed[path]
    if isinstance(result, BaseException):
        raise result
    committed = builder.read(path)
    assert len(committed.cells) == len(result.cells)
    for index, (old, new) in enumerate(zip(committed.cells, result.cells, strict=True)):
        if old.cell_type != "code":
            continue
        assert not [o for o in new.outputs if o.output_type == "error" or
                    (o.output_type == "stream" and o.name == "stderr")], new.outputs
        if old.outputs != new.outputs:
            diff = "\n".join(difflib.unified_diff(
                "\n".join(map(_text, old.outputs)).splitlines(),
                "\n".join(map(_text, new.outputs)).splitlines(),
                "committed", "executed", lineterm="", n=1))
            pytest.fail(f"{_name(path)} cell {index} ({old.source.splitlines()[0]!r}): "
                        f"the outputs changed; {REBUILD}\n{diff[:3000]}")


def _summary_rows(nb: NotebookNode) -> dict[str, list[str]]:
    """The closing table's rows, from its text form."""
    cell = next(c for c in nb.cells if c.cell_type == "code"
                and c.source.startswith("runner.show_summary("))
    text = _text(cell.outputs[0])
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] in STEP_IDS:
            rows[cells[0]] = cells
    return rows


@pytest.mark.parametrize("path", PATTERN_NOTEBOOKS, ids=_name)
def test_pattern_notebook_shows_what_the_service_saw_as_the_matrix_measures(path, matrix):
    pattern = path.parent.name[:3]
    nb = builder.read(path)
    rows = _summary_rows(nb)
    assert list(rows) == list(STEP_IDS)
    column = {name: i for i, name in enumerate(SUMMARY_COLUMNS)}
    for step, row in rows.items():
        cell = matrix.cell(step, pattern)
        assert cell is not None
        shown = {name: row[column[name]] for name in
                 ("expected", "actual", "ok", "decided by", "audit names")}
        assert shown == {"expected": cell.expected, "actual": cell.actual, "ok": "yes",
                         "decided by": cell.decided_by, "audit names": cell.audit}, step
    last = [c for c in nb.cells if c.cell_type == "markdown"][-2:]
    assert any(c.source.startswith(("## What went wrong", "## What is still open"))
               for c in last)
