"""A lab session's exports live in its own temporary directory, which quitting removes; the
student keeps a copy with K (in ~/agent-auth-exports, private to them)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from runtime.settings import Settings
from tui.app import AgentAuthApp
from tui.exporter import KEPT_FOLDER, Exporter


def test_close_removes_the_lab_directory_and_everything_in_it():
    exporter = Exporter(lab=True)
    folder = exporter.directory
    (folder / "session.har").write_text("{}")
    assert folder.is_relative_to(Path(tempfile.gettempdir()))
    assert folder.stat().st_mode & 0o777 == 0o700
    exporter.close()
    assert not folder.exists()
    exporter.close()   # twice is fine


def test_an_exporter_that_was_never_used_makes_no_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    Exporter(lab=True).close()
    assert not list(tmp_path.iterdir())


def test_keep_copies_the_exports_to_a_private_folder(tmp_path):
    exporter = Exporter(lab=True)
    (exporter.directory / "session-1.har").write_text("{}")
    (exporter.directory / "hop-3.sh").write_text("curl")
    kept = exporter.keep(tmp_path / KEPT_FOLDER)
    assert sorted(p.name for p in kept) == ["hop-3.sh", "session-1.har"]
    assert (tmp_path / KEPT_FOLDER).stat().st_mode & 0o777 == 0o700
    exporter.close()
    assert (tmp_path / KEPT_FOLDER / "session-1.har").read_text() == "{}"


def test_outside_lab_mode_nothing_is_temporary(tmp_path):
    exporter = Exporter(lab=False, base=tmp_path)
    (exporter.directory / "session-1.har").write_text("{}")
    assert exporter.keep(tmp_path / "elsewhere") == [] and exporter.fate == ""
    exporter.close()
    assert (tmp_path / "session-1.har").exists()


async def test_quitting_the_lab_explorer_removes_its_exports_and_k_keeps_them(
        tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    app = AgentAuthApp(Settings(lab=True, demo=True), tour=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_until_ready()
        exporter = app.explorer.exporter
        folder = exporter.directory
        (folder / "session-1.har").write_text("{}")
        assert "deleted when you quit" in exporter.fate
        await pilot.press("K")
        await pilot.press("q")
    assert not folder.exists()
    assert (tmp_path / KEPT_FOLDER / "session-1.har").read_text() == "{}"
