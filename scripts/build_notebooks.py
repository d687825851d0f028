"""Build the notebooks: notebooks/00-verify-setup.ipynb and patterns/pNN_*/notebook.ipynb.

A pattern's narrative (its README.md) stays the one source of its story: the notebook's
markdown cells are cut from it here, between generated code cells that show the code, run
the script step by step and end with what the service saw. Outputs are committed so that the
notebooks read well on a code host; they are deterministic (the demo's frozen clock and fixed
keys on the embedded stack, placeholders for what churns: see runtime/display.py), and
tests/notebooks/ re-executes every notebook and compares.

    uv run python scripts/build_notebooks.py            # cells from the narratives (keeps the
                                                        # outputs of unchanged code cells)
    uv run python scripts/build_notebooks.py --execute  # and run them all: fresh outputs
    uv run python scripts/build_notebooks.py --check    # exit 1 when a notebook is stale
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `runtime` importable from a checkout
    sys.path.insert(0, str(ROOT))

from runtime import STEPS, PatternInfo, discover  # noqa: E402

SETUP = ROOT / "notebooks" / "00-verify-setup.ipynb"
NOTEBOOK = "notebook.ipynb"
METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                   "name": "python3"},
    "language_info": {"name": "python"},
}
#: Settings a developer's shell may hold; executing for the committed outputs ignores them.
SETTINGS_VARIABLES = ("AGENT_AUTH_", "OPENAI_", "KEYCLOAK_URL", "OPA_URL")
#: The narrative sections after which generated cells come, in order.
AFTER_DOES, AFTER_SEES, AFTER_SCRIPT = ("What this pattern does", "What the service sees",
                                        "How the script goes")

SWITCH = '''\
import os

from runtime import Settings

# Defaults: the embedded IdP and OPA and the scripted model: no keys, no network.
# For the real Keycloak + OPA or a real model, set what the CLI reads (here, or in the
# shell before `jupyter lab`), then run the notebook again from here.
# os.environ["AGENT_AUTH_STACK"] = "external"       # `docker compose up -d` first
# os.environ["KEYCLOAK_URL"] = "http://127.0.0.1:8080"
# os.environ["OPA_URL"] = "http://127.0.0.1:8181"
# os.environ["AGENT_AUTH_MODEL"] = "gpt-4o-mini"    # a real model, with its key...
# os.environ["OPENAI_API_KEY"] = "sk-..."
# os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:11434/v1"   # ...or a local server
settings = Settings.from_env(os.environ)'''


# -- the narrative, cut into sections ---------------------------------------------------------

def sections(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The intro (title and lead) and each `## ` section as (heading, whole markdown),
    ignoring headings inside code fences."""
    intro: list[str] = []
    found: list[tuple[str, list[str]]] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            found.append((line[3:].strip(), [line]))
        elif found:
            found[-1][1].append(line)
        else:
            intro.append(line)
    return "\n".join(intro).strip(), [(h, "\n".join(body).strip()) for h, body in found]


def _link(info: PatternInfo, here: PatternInfo) -> str:
    path = NOTEBOOK if info == here else f"../{info.folder.name}/{NOTEBOOK}"
    return f"[{info.id} {info.title}]({path})"


# -- the cells --------------------------------------------------------------------------------

def pattern_cells(info: PatternInfo, patterns: list[PatternInfo]) -> list[NotebookNode]:
    intro, parts = sections(info.narrative())
    at = patterns.index(info)
    before = patterns[at - 1] if at > 0 else None
    after = patterns[at + 1] if at + 1 < len(patterns) else None
    nav = [f"Pattern {at + 1} of {len(patterns)}"]
    nav += [f"previous: {_link(before, info)}"] if before else []
    nav += [f"next: {_link(after, info)}"] if after else []
    nav += ["setup: [00-verify-setup](../../notebooks/00-verify-setup.ipynb)",
            "narrative: [README.md](README.md)"]
    cells = [new_markdown_cell(intro),
             new_markdown_cell("*" + " · ".join(nav) + "*\n\n"
                               "The text of this notebook is the pattern's narrative "
                               "(README.md, which the explorer shows too); the code cells run "
                               "it. Run them top to bottom.")]
    for heading, markdown in parts:
        cells.append(new_markdown_cell(markdown))
        if heading == AFTER_DOES:
            cells += _run_cells(info, before)
        elif heading == AFTER_SEES:
            cells += _script_cells(info)
        elif heading == AFTER_SCRIPT:
            cells += [*_your_turn_cells(), new_code_cell("await runner.stop()")]
    if after:
        cells.append(new_markdown_cell(f"Next: {_link(after, info)}."))
    return cells


def _run_cells(info: PatternInfo, before: PatternInfo | None) -> list[NotebookNode]:
    cells = [
        new_markdown_cell(
            "## Run it\n\n"
            "The runner starts this pattern's whole world in this kernel: the two tool "
            "services, the MCP server, the agent and the scripted model, and the embedded IdP "
            "and OPA, as real HTTP servers on 127.0.0.1. The next cell is where you switch to "
            "the real stack or a real model (the defaults need nothing). On the embedded "
            "stack the clock is frozen and the API keys are fixed, as in the explorer's "
            "`--demo`, so that this notebook's outputs are the same on every run; values "
            "that still differ per run (ports, token ids, key thumbprints) are shown as "
            "placeholders, and the raw hops are on `runner.tap.hops`."),
        new_code_cell(SWITCH),
        new_code_cell("from runtime import PatternRunner\n\n"
                      f'runner = PatternRunner.for_notebook("{info.id}", settings=settings)\n'
                      "await runner.start()\n"
                      "runner.show_setup()"),
        new_markdown_cell(
            "## The code\n\n"
            "The pattern is these two files: `mcp_auth.py` runs in the MCP server (what "
            "credential leaves it, which calls it lets through), `service_auth.py` in each tool "
            "service (which Identity it extracts, who decides)."),
        new_code_cell("runner.show_auth_code()"),
    ]
    if before is not None:
        cells += [new_markdown_cell(f"What changed since {before.id} ({before.title}):"),
                  new_code_cell("runner.show_diff()")]
    return cells


def _script_cells(info: PatternInfo) -> list[NotebookNode]:
    cells = [
        new_markdown_cell(
            "## The script, step by step\n\n"
            "The same prompts and attacks as under every pattern, each from fresh state. "
            "Each step shows its outcome against the teaching contract, the agent's answer, "
            "the Identity each service extracted, and (folded) the hops and the decoded "
            "tokens. For attacks, ALLOW means the attack succeeded."),
        new_code_cell("steps = {}"),
    ]
    for step in STEPS.values():
        cells.append(new_markdown_cell(
            f"### {step.id} · {step.who}: {_quoted(step.what)}\n\n*{step.goal}*"))
        cells.append(new_code_cell(f'steps["{step.id}"] = await runner.run_step("{step.id}")\n'
                                   f'runner.show(steps["{step.id}"])'))
    cells += [
        new_markdown_cell(
            "## What the service saw\n\n"
            "Every step again, as `agent-auth matrix` measures it: the outcome against the "
            "contract, who decided, whom the audit log names, and the identities the "
            "services extracted."),
        new_code_cell("runner.show_summary(steps.values())"),
    ]
    return cells


def _quoted(what: str) -> str:
    return f'"{what}"' if what[:1].isupper() else what


def _your_turn_cells() -> list[NotebookNode]:
    return [
        new_markdown_cell(
            "## Your turn\n\n"
            "Any user (alice, bob, dave), any prompt. `runner.show(turn)` shows the whole "
            "turn; `runner.show_identity()` what the services saw for the last prompt."),
        new_code_cell('turn = await runner.run_as("bob", "What are my expenses?")\n'
                      "print(turn.answer)\n"
                      "runner.show_identity()"),
    ]


def setup_cells() -> list[NotebookNode]:
    return [
        new_markdown_cell(
            "# 00: Verify the setup\n\n"
            "What `agent-auth doctor` checks, through the runtime's API: which stack and model "
            "are in use, that every pattern loads, that the IdP and OPA answer, and one prompt "
            "end to end. Then open a pattern's notebook, "
            "[01 No auth](../patterns/p01_no_auth/notebook.ipynb) first.\n\n"
            "By default everything runs inside this kernel: an embedded, Keycloak-compatible "
            "IdP, an embedded OPA (regopy), and a scripted model. No account, key, network or "
            "Docker is needed."),
        new_markdown_cell(
            "## Stack and model\n\n"
            "The same variables as the CLI. Set them in the next cell (or in the shell before "
            "`jupyter lab`) to use the real Keycloak and OPA (`docker compose up -d`, or "
            "`stack/native.sh up`; see docs/real-stack.md) or a real model."),
        new_code_cell(SWITCH),
        new_code_cell('print(f"stack: {settings.stack}")\n'
                      'print(f"model: {settings.model}")'),
        new_markdown_cell("## The patterns load\n\n"
                          "Each folder's two files must import and keep the plugin contract."),
        new_code_cell("from runtime import PatternError, discover, load\n\n"
                      "for info in discover():\n"
                      "    try:\n"
                      "        load(info)\n"
                      '        print(f"ok    {info.id} {info.title}")\n'
                      "    except PatternError as exc:\n"
                      '        print(f"FAIL  {exc}")'),
        new_markdown_cell(
            "## The stack answers\n\n"
            "The IdP's discovery document and OPA's health endpoint. On the external stack, "
            "`start()` itself says what to do when Keycloak or OPA is not there."),
        new_code_cell(
            "from runtime import StackHandle, probe\n\n"
            "stack = StackHandle(settings)\n"
            "endpoints = await stack.start()\n"
            "health = await probe(endpoints, settings.timeout)\n"
            "await stack.stop()\n"
            'where = "in this kernel" if settings.stack == "embedded" else endpoints.issuer\n'
            'print(f"IdP (Keycloak-compatible, {where}): {health[\'idp\']}")\n'
            'print(f"OPA: {health[\'opa\']}")'),
        new_markdown_cell(
            "## One prompt, end to end\n\n"
            "alice asks for her expenses under pattern 06 (scoped token exchange + OPA): the "
            "agent logs her in, the MCP server exchanges her token for one narrowed to the "
            "records service, and OPA decides. `runner.show(...)` shows the answer, the "
            "Identity the service extracted, and (folded) the hops and tokens."),
        new_code_cell("from runtime import PatternRunner\n\n"
                      'runner = PatternRunner.for_notebook("p06", settings=settings)\n'
                      "await runner.start()\n"
                      "runner.show_setup()"),
        new_code_cell('turn = await runner.run_as("alice", "What are my expenses?")\n'
                      "runner.show(turn)"),
        new_code_cell("await runner.stop()"),
        new_markdown_cell(
            "All green? Start with [01 No auth](../patterns/p01_no_auth/notebook.ipynb). "
            "Each pattern's notebook has the same shape: the narrative, the two files and the "
            "diff against the previous pattern, the script step by step, what the service "
            "saw, and what went wrong (which the next pattern fixes)."),
    ]


# -- notebooks: build, normalise, execute -------------------------------------------------

def targets() -> list[tuple[Path, list[NotebookNode]]]:
    """Every notebook this script writes, with the cells it should hold."""
    patterns = [p for p in discover() if p.number is not None]
    found = [(SETUP, setup_cells())]
    found += [(p.folder / NOTEBOOK, pattern_cells(p, patterns)) for p in patterns]
    return found


def build(cells: Iterable[NotebookNode], old: NotebookNode | None = None) -> NotebookNode:
    """A notebook with these cells; a code cell whose source the old notebook has at the
    same place keeps its outputs."""
    nb = new_notebook(cells=list(cells), metadata=METADATA)
    previous = old.cells if old is not None else []
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index:03d}"
        if cell.cell_type == "code" and index < len(previous):
            was = previous[index]
            if was.cell_type == "code" and was.source == cell.source:
                cell.outputs, cell.execution_count = was.outputs, was.execution_count
    return normalise(nb)


def normalise(nb: NotebookNode) -> NotebookNode:
    """What is kept of a notebook: no timing or kernel details, one stream output per run
    of text (the kernel may send a print in several pieces)."""
    nb.metadata = nbformat.from_dict(METADATA)
    for index, cell in enumerate(nb.cells):
        cell.metadata = nbformat.from_dict({})
        cell.id = f"cell-{index:03d}"
        if cell.cell_type != "code":
            continue
        merged: list[NotebookNode] = []
        for output in cell.outputs:
            output.pop("transient", None)
            if (output.output_type == "stream" and merged
                    and merged[-1].output_type == "stream" and merged[-1].name == output.name):
                merged[-1].text += output.text
            else:
                merged.append(output)
        cell.outputs = merged
    return nb


def read(path: Path) -> NotebookNode | None:
    return nbformat.read(path, as_version=4) if path.is_file() else None


def write(nb: NotebookNode, path: Path) -> bool:
    """Write `nb` if it differs from what is there; True when it did."""
    text = nbformat.writes(nb) + "\n"
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def kernel_env() -> dict[str, str]:
    """The environment without the stack and model settings: the defaults, as committed."""
    return {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_VARIABLES)}


async def execute(nb: NotebookNode, folder: Path, timeout: float = 120) -> NotebookNode:
    """Run every cell in a fresh kernel in `folder`; raises on the first cell that fails."""
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(folder)}})
    await client.async_execute(env=kernel_env())
    return normalise(nb)


async def execute_all(built: list[tuple[Path, NotebookNode]], parallel: int = 2,
                      return_exceptions: bool = False) -> list[NotebookNode | BaseException]:
    """Execute notebooks `parallel` at a time (each in its own kernel); with
    `return_exceptions`, a notebook that fails gives its exception instead of raising."""
    gate = asyncio.Semaphore(parallel)

    async def one(path: Path, nb: NotebookNode) -> NotebookNode:
        async with gate:
            return await execute(nb, path.parent)

    return list(await asyncio.gather(*(one(path, nb) for path, nb in built),
                                     return_exceptions=return_exceptions))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--execute", action="store_true", help="run them all: fresh outputs")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a notebook's cells are not what this script builds")
    args = parser.parse_args()
    built = [(path, build(cells, read(path))) for path, cells in targets()]
    if args.check:
        stale = [path for path, nb in built if read(path) is None
                 or [(c.cell_type, c.source) for c in read(path).cells]  # type: ignore[union-attr]
                 != [(c.cell_type, c.source) for c in nb.cells]]
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)}")
        return 1 if stale else 0
    if args.execute:
        started = time.perf_counter()
        executed = asyncio.run(execute_all(built))
        built = [(path, nb) for (path, _), nb in zip(built, executed, strict=True)
                 if isinstance(nb, NotebookNode)]
        print(f"executed {len(built)} notebooks in {time.perf_counter() - started:.1f} s")
    for path, nb in built:
        changed = write(nb, path)
        print(f"{path.relative_to(ROOT)}: {'written' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
