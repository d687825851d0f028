"""What a pattern's code relies on: the shared functions its two files call, with source.

The explorer's code view lists them under each file and opens any of them, so nothing a
pattern depends on is hidden (`agent-auth show --pattern p06 --presets`). Found by reading
the files' imports (AST), never by running them.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import inspect
import pkgutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

from runtime.pattern_loader import PatternInfo

CODE_FILES = ("mcp_auth.py", "service_auth.py")
#: Modules whose functions and classes a pattern may call: shown with their source.
SHARED_MODULES = ("runtime.presets", "runtime.pattern_api")
PROJECT_PACKAGES = ("runtime.", "stack.")


@dataclass(frozen=True)
class SharedCode:
    """One function, class or constant a pattern file imports from the shared modules."""

    name: str
    module: str          # where it is defined, e.g. "runtime.presets.jwt_verify"
    path: str            # that file, relative to the project
    line: int
    source: str
    summary: str         # the docstring's first line (or the constant's value)
    used_in: tuple[str, ...]


def unified_diff(before: PatternInfo | None, after: PatternInfo) -> str:
    """Both files of `before` against `after`, unified: where the auth boundary moved."""
    if before is None:
        return ""
    chunks: list[str] = []
    for name in CODE_FILES:
        chunks += difflib.unified_diff(
            before.code(name).splitlines(keepends=True), after.code(name).splitlines(keepends=True),
            fromfile=f"{before.folder.name}/{name}", tofile=f"{after.folder.name}/{name}")
    return "".join(chunks)


def _imports(code: str) -> list[tuple[str, str]]:
    """(module, name) pairs a file imports from the shared modules; unparseable: none."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in SHARED_MODULES:
            found += [(node.module, alias.name) for alias in node.names]
    return found


def _describe(module: str, name: str, used_in: tuple[str, ...]) -> SharedCode | None:
    try:
        value = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    root = Path(__file__).resolve().parent.parent
    if inspect.isfunction(value) or inspect.isclass(value):
        path = Path(inspect.getsourcefile(value) or "")
        lines, line = inspect.getsourcelines(value)
        doc = (inspect.getdoc(value) or "").split("\n\n", 1)[0].replace("\n", " ")
        return SharedCode(name, value.__module__, _relative(path, root), line, "".join(lines),
                          doc, used_in)
    home, line, text = _constant_home(module, name)
    path = Path(inspect.getsourcefile(importlib.import_module(home)) or "")
    return SharedCode(name, home, _relative(path, root), line, text or f"{name} = {value!r}\n",
                      repr(value), used_in)


def _constant_home(module: str, name: str) -> tuple[str, int, str]:
    """Where a constant is assigned: the module itself or one of its package's modules."""
    package = importlib.import_module(module)
    candidates = [module]
    if hasattr(package, "__path__"):
        candidates += [f"{module}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
    for candidate in candidates:
        file = inspect.getsourcefile(importlib.import_module(candidate)) or ""
        source = Path(file).read_text(encoding="utf-8")
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    text = ast.get_source_segment(source, node) or ""
                    return candidate, node.lineno, text + "\n"
    return module, 0, ""


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def shared_code(info: PatternInfo) -> list[SharedCode]:
    """Everything the pattern's two files import from presets and the plugin API: the
    presets' functions first, then their constants, then the plugin API's types."""
    users: dict[tuple[str, str], list[str]] = {}
    for file in CODE_FILES:
        for pair in _imports(info.code(file)):
            users.setdefault(pair, []).append(file)
    found = [_describe(module, name, tuple(files)) for (module, name), files in users.items()]
    described = [f for f in found if f is not None]
    return sorted(described, key=lambda f: (not f.module.startswith("runtime.presets"),
                                            f.source.lstrip()[:3] not in ("def", "asy")))


def calls(shared: SharedCode) -> list[SharedCode]:
    """The project's functions and classes that `shared` itself calls or names, so that a
    reader can follow a preset down to the mechanism (e.g. `stack.jose.verify_proof`)."""
    try:
        module = importlib.import_module(shared.module)
        tree = ast.parse(textwrap.dedent(shared.source))
    except (ImportError, SyntaxError):
        return []
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - {shared.name}
    found = []
    for name in sorted(names):
        value = getattr(module, name, None)
        home = getattr(value, "__module__", "") or ""
        if (inspect.isfunction(value) or inspect.isclass(value)) and home.startswith(
                PROJECT_PACKAGES):
            described = _describe(home, value.__name__, (shared.name,))
            if described is not None:
                found.append(described)
    return found


def find_shared(name: str) -> SharedCode | None:
    """A shared function or class by name (for `agent-auth show --preset NAME`)."""
    for module in SHARED_MODULES:
        found = _describe(module, name, ())
        if found is not None:
            return found
    return None
