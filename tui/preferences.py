"""What the explorer remembers between sessions, in the platform's own places.

    config  (platformdirs user_config_dir)  config.json   {"theme": "nord"}
    state   (platformdirs user_state_dir)   state.json    {"pattern": "p05", "user": "bob",
                                                            "prompts": [...], "filters": [...]}
    exports (platformdirs user_data_dir/exports)          where `e` and `x` write by default

AGENT_AUTH_CONFIG_DIR, AGENT_AUTH_STATE_DIR and AGENT_AUTH_EXPORT_DIR move them (the tests
point them at a temporary directory). `--lab` remembers nothing: a lab session writes only
its own temporary exports. `--demo` plays the same tour every time, so it neither restores
nor saves the last pattern, user and histories (the theme still applies).

A missing, unreadable, non-JSON or oddly shaped file is ignored, value by value, and never
stops the explorer; a file that cannot be written is reported once and the session goes on.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_config_path, user_data_path, user_state_path

APP_NAME = "agent-auth-explorer"
CONFIG_FILE, STATE_FILE = "config.json", "state.json"
MAX_ENTRIES = 100    # per history
MAX_ENTRY = 4000     # characters: the prompt limit


def default_export_dir() -> Path:
    """Where exports go unless told otherwise: the user's data directory, never the cwd."""
    return user_data_path(APP_NAME) / "exports"


@dataclass(frozen=True)
class Places:
    """The directories to read and write; None: nothing is read or written there."""

    config: Path | None
    state: Path | None
    exports: Path | None = None   # None: the exporter's own default (or lab temp dir)

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, lab: bool = False,
                 demo: bool = False) -> Places:
        def place(name: str) -> Path | None:
            return Path(env[name]).expanduser() if env.get(name) else None

        exports = place("AGENT_AUTH_EXPORT_DIR")
        if lab:
            return cls(None, None, exports)
        state = None if demo else (place("AGENT_AUTH_STATE_DIR") or user_state_path(APP_NAME))
        return cls(place("AGENT_AUTH_CONFIG_DIR") or user_config_path(APP_NAME), state, exports)

    @classmethod
    def under(cls, root: Path) -> Places:
        """All three below `root` (tests)."""
        return cls(root / "config", root / "state", root / "exports")


@dataclass
class SavedState:
    pattern: str = ""
    user: str = ""
    prompts: list[str] = field(default_factory=list)
    filters: list[str] = field(default_factory=list)


def _read(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # missing, unreadable, not JSON, too deep
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) and len(value) <= MAX_ENTRY else ""


def _history(value: object) -> list[str]:
    entries = value if isinstance(value, list) else []
    return [e for e in map(_text, entries) if e.strip()][-MAX_ENTRIES:]


def _write(path: Path, value: dict[str, Any]) -> None:
    """Write whole or not at all: a crash mid-write never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(value, file, indent=2)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class Preferences:
    def __init__(self, places: Places) -> None:
        self.places = places
        self.problem = ""   # the first write that failed, to report once

    def _file(self, directory: Path | None, name: str) -> Path | None:
        return directory / name if directory is not None else None

    def theme(self) -> str:
        return _text(_read(self._file(self.places.config, CONFIG_FILE)).get("theme"))

    def state(self) -> SavedState:
        saved = _read(self._file(self.places.state, STATE_FILE))
        return SavedState(_text(saved.get("pattern")), _text(saved.get("user")),
                          _history(saved.get("prompts")), _history(saved.get("filters")))

    def save_theme(self, theme: str) -> bool:
        path = self._file(self.places.config, CONFIG_FILE)
        return path is None or self._save(path, {**_read(path), "theme": theme})

    def save_state(self, state: SavedState) -> bool:
        path = self._file(self.places.state, STATE_FILE)
        kept = SavedState(state.pattern, state.user, _history(state.prompts),
                          _history(state.filters))
        return path is None or self._save(path, asdict(kept))

    def _save(self, path: Path, value: dict[str, Any]) -> bool:
        try:
            _write(path, value)
        except OSError as exc:
            self.problem = self.problem or f"cannot save {path}: {exc.strerror or exc}"
            return False
        return True
