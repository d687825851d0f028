"""Find and load pattern folders, failing with a clear message.

A pattern is two code files and a narrative: the eight in `patterns/pNN_name/`, or any
folder a user points at (`agent-auth run --pattern ./my_patterns/p11_mine`). A broken folder
(missing file, missing name, import error, a signature the framework cannot call) raises
`PatternError` saying which file and what is wrong; it never takes the explorer down.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from stack.errors import ExplorerError

if TYPE_CHECKING:
    from runtime.plugin import McpPlugin, ServicePlugin

PATTERNS_DIR = Path(__file__).resolve().parent.parent / "patterns"
_FOLDER = re.compile(r"^p(\d\d)_[a-z0-9_]+$")
NARRATIVE = "README.md"
CODE_FILES = ("mcp_auth", "service_auth")


class PatternError(ExplorerError):
    """A pattern could not be found or loaded."""


@dataclass(frozen=True)
class PatternInfo:
    id: str          # "p05", or a custom folder's name
    folder: Path
    title: str       # from the narrative's first heading

    @property
    def number(self) -> int | None:
        """The place on the staircase (1-8 for the built-in patterns), if the id has one."""
        match = _FOLDER.match(self.folder.name)
        return int(match.group(1)) if match and self.id == f"p{match.group(1)}" else None

    @property
    def narrative_path(self) -> Path:
        return self.folder / NARRATIVE

    def narrative(self) -> str:
        try:
            return self.narrative_path.read_text(encoding="utf-8")
        except OSError as exc:
            return f"# {self.title}\n\n(narrative unavailable: {exc})"

    def code(self, name: str) -> str:
        try:
            return (self.folder / name).read_text(encoding="utf-8")
        except OSError as exc:
            return f"# {name} unavailable: {exc}"


@dataclass(frozen=True)
class LoadedPattern:
    info: PatternInfo
    mcp: McpPlugin
    service: ServicePlugin

    @property
    def id(self) -> str:
        return self.info.id


def discover(root: Path = PATTERNS_DIR) -> list[PatternInfo]:
    found = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        match = _FOLDER.match(folder.name)
        if match and folder.is_dir():
            found.append(PatternInfo(f"p{match.group(1)}", folder, _title(folder)))
    return found


def _title(folder: Path) -> str:
    try:
        with (folder / NARRATIVE).open(encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("# "):
                    return line[2:].strip()
    except OSError:
        pass
    name = folder.name.split("_", 1)[1] if _FOLDER.match(folder.name) else folder.name
    return name.replace("_", " ")


def from_folder(folder: Path) -> PatternInfo:
    """A pattern folder anywhere (a user's own pattern, written to the contract)."""
    folder = folder.expanduser().resolve()
    if not folder.is_dir():
        raise PatternError(f"{folder} is not a folder")
    if not any((folder / f"{name}.py").is_file() for name in CODE_FILES):
        raise PatternError(f"{folder} holds neither mcp_auth.py nor service_auth.py: "
                           "not a pattern folder")
    match = _FOLDER.match(folder.name)
    builtin = PATTERNS_DIR / folder.name
    pattern_id = f"p{match.group(1)}" if match else folder.name
    if match and builtin.resolve() != folder:
        pattern_id = folder.name   # a copy of p05 elsewhere is not p05 on the staircase
    return PatternInfo(pattern_id, folder, _title(folder))


def _looks_like_path(pattern: str) -> bool:
    return "/" in pattern or pattern.startswith((".", "~"))


def find(pattern: str, root: Path = PATTERNS_DIR) -> PatternInfo:
    """A built-in pattern by id, number or folder name, or a folder path."""
    if _looks_like_path(pattern.strip()):
        return from_folder(Path(pattern.strip()))
    wanted = pattern.strip().lower()
    digits = wanted.lstrip("p").split("_", 1)[0]
    for info in discover(root):
        by_number = digits.isdigit() and int(digits) == info.number
        if wanted in (info.id, info.folder.name) or by_number:
            return info
    known = ", ".join(i.id for i in discover(root)) or "none"
    raise PatternError(f"unknown pattern {pattern!r} (known: {known})")


def _import(info: PatternInfo, name: str) -> ModuleType:
    path = info.folder / f"{name}.py"
    if not path.is_file():
        raise PatternError(f"{info.id}: {path.name} is missing from {info.folder}")
    key = hashlib.sha256(str(info.folder).encode()).hexdigest()[:8]
    module_name = f"agent_auth_patterns.{info.folder.name}_{key}.{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PatternError(f"{info.id}: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # a plugin may fail in any way (even exit)
        raise PatternError(f"{info.id}: {path.name} failed to import: {type(exc).__name__}: "
                           f"{exc}") from exc
    sys.modules[module_name] = module
    return module


def load(pattern: str | PatternInfo, root: Path = PATTERNS_DIR) -> LoadedPattern:
    # here, not at the top: listing the patterns (the explorer's first frame) needs none of
    # the plugin machinery or the HTTP and JOSE libraries it brings
    from runtime.plugin import McpPlugin, PluginError, ServicePlugin

    info = pattern if isinstance(pattern, PatternInfo) else find(pattern, root)
    mcp_auth = _import(info, "mcp_auth")
    service_auth = _import(info, "service_auth")
    handler = getattr(mcp_auth, "auth_handler", None)
    if handler is None:
        hint = " (it defines `handler`: rename it)" if hasattr(mcp_auth, "handler") else ""
        raise PatternError(f"{info.id}: mcp_auth.py must define `auth_handler`, an "
                           f"AuthHandler instance{hint}")
    try:
        return LoadedPattern(info, McpPlugin.of(handler, "mcp_auth.py"),
                             ServicePlugin.of(service_auth, "service_auth.py"))
    except PluginError as exc:
        raise PatternError(f"{info.id}: {exc}") from None
