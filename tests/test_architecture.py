"""The layers the tree promises: stack <- runtime <- tui <- agent_auth, and no import cycle.

Every import counts, at module level or inside a function (a cycle hidden in a function is
still a cycle); imports only for type checking (`if TYPE_CHECKING:`) do not.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("stack", "runtime", "tui", "agent_auth")
MAY_NOT_IMPORT = {
    "stack": ("runtime", "tui", "agent_auth"),
    "runtime": ("tui", "agent_auth"),
    "tui": ("agent_auth",),
}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.Module, module: str, is_package: bool,
                     known: frozenset[str] = frozenset()) -> set[str]:
    """Imported module names, skipping `if TYPE_CHECKING:` blocks (`from pkg import mod`
    imports the module `pkg.mod`, not `pkg`'s own code, when `pkg.mod` is `known`)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names]
            found.update(names)
            if not all(name in known for name in names):   # not only submodules
                found.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def graph() -> dict[str, set[str]]:
    modules: dict[str, tuple[ast.Module, bool]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            modules[_module(path)] = (ast.parse(path.read_text(encoding="utf-8")),
                                      path.name == "__init__.py")
    edges: dict[str, set[str]] = {}
    known = frozenset(modules)
    for name, (tree, is_package) in modules.items():
        targets = _runtime_imports(tree, name, is_package, known)
        edges[name] = {t for t in targets if t in modules and t != name}
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def test_each_layer_imports_only_the_layers_below_it():
    wrong = [f"{source} imports {target}" for source, targets in graph().items()
             for target in targets
             if target.split(".")[0] in MAY_NOT_IMPORT.get(source.split(".")[0], ())]
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycle_between_modules():
    assert _cycles(graph()) == []


def test_the_checks_see_a_cycle_and_a_layer_breach():
    edges = {"runtime.a": {"runtime.b"}, "runtime.b": {"runtime.a"}, "runtime.c": {"tui.x"}}
    assert _cycles(edges) == [["runtime.a", "runtime.b"]]
    tree = ast.parse("def f():\n    from tui.app import run_app\n")
    assert "tui.app" in _runtime_imports(tree, "runtime.cli", False)


#: a package with a curated __init__ of its own, used as `from runtime.battery import ...`
SUB_APIS = ("runtime.battery",)


def _direct(targets: set[str]) -> list[str]:
    return sorted(t for t in targets if t.startswith("runtime.")
                  and not any(t == api or t.startswith(api + ".") and t.count(".") == 2
                              for api in SUB_APIS))


def test_the_explorer_and_the_cli_use_the_runtime_through_its_curated_api():
    """tui/ and agent_auth/ import `runtime` (its __init__'s names), never a runtime module
    directly (a name `from runtime.battery import` is the battery's own API)."""
    direct = [f"{source} imports {target}" for source, targets in graph().items()
              if source.startswith(("tui", "agent_auth")) for target in _direct(targets)]
    assert not direct, "\n".join(direct)


def test_the_notebooks_use_the_runtime_through_its_curated_api():
    """The code cells of every notebook (and the script that writes them) import only
    `runtime` and `runtime.pattern_api`/`runtime.presets` (which a pattern's files use)."""
    allowed = ("runtime.pattern_api", "runtime.presets")
    found = []
    sources = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
               for p in (ROOT / "scripts").glob("build_notebooks.py")}
    for path in [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("patterns/*/notebook.ipynb")]:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        sources[str(path.relative_to(ROOT))] = "\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "code")
    for name, text in sources.items():
        for target in re.findall(r"^\s*\"?(?:from|import) (runtime\.[\w.]+)", text, re.M):
            if not target.startswith(allowed):
                found.append(f"{name} imports {target}")
    assert sources and not found, "\n".join(found)


def test_every_error_the_explorer_defines_is_an_explorer_error():
    """One root: the CLI and the TUI catch `ExplorerError`, so every exception class the
    project defines must be one (besides any built-in kind it also is)."""
    import importlib
    import inspect

    from stack.errors import ExplorerError

    outside = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = _module(path)
            if name.endswith("__main__"):
                continue
            module = importlib.import_module(name)
            for cls_name, cls in inspect.getmembers(module, inspect.isclass):
                if (cls.__module__ == name and issubclass(cls, BaseException)
                        and not issubclass(cls, ExplorerError)):
                    outside.append(f"{name}.{cls_name}")
    assert not outside, "not under ExplorerError: " + ", ".join(outside)
