"""Find and load pattern folders (`patterns/pNN_name/`), failing with a clear message.

A pattern is two code files and a narrative. A broken folder (missing file, missing name,
import error, wrong types) raises `PatternError` saying which file and what is wrong; it never
takes the explorer down with it.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from runtime.pattern_api import AuthHandler

PATTERNS_DIR = Path(__file__).resolve().parent.parent / "patterns"
_FOLDER = re.compile(r"^p(\d\d)_[a-z0-9_]+$")
NARRATIVE = "README.md"


class PatternError(Exception):
    """A pattern could not be found or loaded."""


@dataclass(frozen=True)
class PatternInfo:
    id: str          # "p05"
    folder: Path
    title: str       # from the narrative's first heading

    @property
    def number(self) -> int:
        return int(self.id[1:])

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
    handler: AuthHandler
    service_auth: ModuleType

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
    return folder.name.split("_", 1)[1].replace("_", " ")


def find(pattern: str, root: Path = PATTERNS_DIR) -> PatternInfo:
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
    module_name = f"agent_auth_patterns.{info.folder.name}.{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PatternError(f"{info.id}: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a plugin may fail in any way; report it, do not crash
        raise PatternError(f"{info.id}: {path.name} failed to import: {type(exc).__name__}: "
                           f"{exc}") from exc
    sys.modules[module_name] = module
    return module


def load(pattern: str | PatternInfo, root: Path = PATTERNS_DIR) -> LoadedPattern:
    info = pattern if isinstance(pattern, PatternInfo) else find(pattern, root)
    mcp_auth = _import(info, "mcp_auth")
    service_auth = _import(info, "service_auth")
    handler = getattr(mcp_auth, "handler", None)
    if not isinstance(handler, AuthHandler):
        raise PatternError(
            f"{info.id}: mcp_auth.py must define `handler`, an AuthHandler instance "
            f"(found {type(handler).__name__})"
        )
    for name in ("get_identity", "authorize"):
        if not callable(getattr(service_auth, name, None)):
            raise PatternError(f"{info.id}: service_auth.py must define a callable `{name}`")
    return LoadedPattern(info, handler, service_auth)
