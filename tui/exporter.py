"""Writing exports: the session's wire as HAR 1.2 and JSON lines, and one hop as curl.

Files go to the user's data directory (`tui.preferences.default_export_dir`, never the
current directory unasked) unless a directory is given (AGENT_AUTH_EXPORT_DIR, or the
explorer's export_dir); in lab mode to one `tempfile.mkdtemp` directory per session, so many
students on one host never write outside their own temp dir.
Real provider keys were redacted by the tap; demo credentials stay (they are the lesson).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from runtime import Hop, hop_to_dict, to_curl, to_har
from tui.preferences import default_export_dir


class Exporter:
    def __init__(self, lab: bool, base: Path | None = None) -> None:
        self.lab = lab
        self._base = base
        self._dir: Path | None = None

    @property
    def directory(self) -> Path:
        if self._dir is None:
            if self._base is not None:
                self._dir = self._base
            elif self.lab:
                self._dir = Path(tempfile.mkdtemp(prefix="agent-auth-lab-"))
            else:
                self._dir = default_export_dir()
            self._dir.mkdir(parents=True, exist_ok=True)
        return self._dir

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
