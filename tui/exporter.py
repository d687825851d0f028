"""Writing exports: the session's wire as HAR 1.2 and JSON lines, and one hop as curl.

Files go to the user's data directory (`tui.preferences.default_export_dir`, never the
current directory unasked) unless a directory is given (AGENT_AUTH_EXPORT_DIR, or the
explorer's export_dir). In lab mode (students SSH into one host) they go to a private
`tempfile.mkdtemp` directory per session, which `close()` removes when the explorer quits
(and a finalizer at interpreter exit, should close never run), so a session writes nothing
that outlives it. A student who wants an export keeps a copy: `keep()` copies the session's
files to `~/agent-auth-exports/` (key `K`).
Real provider keys were redacted by the tap; demo credentials stay (they are the lesson).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path

from runtime import Hop, hop_to_dict, to_curl, to_har
from tui.preferences import default_export_dir

KEPT_FOLDER = "agent-auth-exports"   # under the student's home, for what they chose to keep


class Exporter:
    def __init__(self, lab: bool, base: Path | None = None) -> None:
        self.lab = lab
        self._base = base
        self._dir: Path | None = None
        self._cleanup: weakref.finalize | None = None

    @property
    def temporary(self) -> bool:
        """Lab mode: the exports live only as long as the session."""
        return self.lab and self._base is None

    @property
    def directory(self) -> Path:
        if self._dir is None:
            if self._base is not None:
                self._dir = self._base
            elif self.lab:
                self._dir = Path(tempfile.mkdtemp(prefix="agent-auth-lab-"))
                self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir,
                                                 ignore_errors=True)
            else:
                self._dir = default_export_dir()
            self._dir.mkdir(parents=True, exist_ok=True)
        return self._dir

    @property
    def fate(self) -> str:
        """What becomes of the files, for the message that names them."""
        if not self.temporary:
            return ""
        return f"They are deleted when you quit; K keeps a copy in ~/{KEPT_FOLDER}/."

    def keep(self, destination: Path | None = None) -> list[Path]:
        """Lab: copy the session's exports to `destination` (default ~/agent-auth-exports,
        made private to the student). Outside lab mode the exports already stay."""
        if not self.temporary or self._dir is None:
            return []
        files = sorted(p for p in self._dir.iterdir() if p.is_file())
        if not files:
            return []
        target = destination or Path.home() / KEPT_FOLDER
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        return [Path(shutil.copy2(path, target / path.name)) for path in files]

    def close(self) -> None:
        """Lab: remove the session's temporary directory and everything in it."""
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None
            self._dir = None

    def _stamp(self) -> str:
        return time.strftime("%Y%m%d-%H%M%S") + f"-{time.monotonic_ns() % 1000:03d}"

    def export_session(self, hops_by_pattern: Mapping[str, Sequence[Hop]]) -> tuple[Path, Path]:
        """All captured hops, each tagged with its pattern: (har path, jsonl path)."""
        entries: list[dict] = []
        events: list[dict] = []
        lines: list[str] = []
        for pattern, hops in hops_by_pattern.items():
            har = to_har(list(hops))["log"]
            entries += [{**e, "_pattern": pattern} for e in har["entries"]]
            events += [{**e, "_pattern": pattern} for e in har["_events"]]
            lines += [json.dumps({"pattern": pattern, **hop_to_dict(h)}, default=str)
                      for h in hops]
        entries.sort(key=lambda e: e["startedDateTime"])
        log = to_har([])
        log["log"]["entries"] = entries
        log["log"]["_events"] = events
        stamp = self._stamp()
        har_path = self.directory / f"session-{stamp}.har"
        jsonl_path = self.directory / f"session-{stamp}.jsonl"
        har_path.write_text(json.dumps(log, indent=2, default=str), encoding="utf-8")
        jsonl_path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return har_path, jsonl_path

    def export_curl(self, hop: Hop) -> tuple[str, Path]:
        """The hop as a curl command (ValueError when it is not HTTP) and the file holding it."""
        command = to_curl(hop)
        path = self.directory / f"hop-{hop.seq}-{self._stamp()}.sh"
        path.write_text("#!/bin/sh\n" + command + "\n", encoding="utf-8")
        return command, path
