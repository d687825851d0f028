"""Tool answers in the chat: tables for lists of records, text for the rest, and nothing a
hostile tool service returns can crash the chat or smuggle in markup."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from rich.console import Console
from tui_helpers import main_screen, send_prompt

from tui.chat_history import ChatEntry
from tui.masking import Masker
from tui.widgets.chat_pane import render_entry
from tui.widgets.tool_result import result_table


def _shown(entry: ChatEntry, width: int = 60) -> str:
    console = Console(width=width, file=StringIO(), no_color=True, color_system=None)
    console.print(render_entry(entry, Masker()))
    return console.file.getvalue()  # type: ignore[attr-defined]


def _tool(answer: object | str, ok: bool = True) -> ChatEntry:
    text = answer if isinstance(answer, str) else json.dumps(answer, indent=1)
    return ChatEntry("tool", 'read_data(kind="expenses")', text, ok)


def test_a_list_of_records_is_a_table_with_a_column_per_field():
    rows = [{"id": 1, "owner": "alice", "amount": 89.0, "status": "approved"},
            {"id": 4, "owner": "alice", "amount": 1450.0, "status": "pending"}]
    lines = _shown(_tool({"expenses": rows})).splitlines()
    assert lines[1].strip() == "expenses"
    assert lines[2].split() == ["id", "owner", "amount", "status"]
    assert lines[4].split() == ["4", "alice", "1450.0", "pending"]


def test_fields_that_do_not_fit_are_named_and_constant_ones_summed_up():
    rows = [{"id": n, "owner": "alice", "description": f"External 4K monitor {n}",
             "status": status, "currency": "USD", "approved_by": by}
            for n, status, by in ((1, "pending", None), (2, "approved", "bob"))]
    text = _shown(_tool({"expenses": rows}), width=40)
    assert "every row: owner alice, currency USD" in " ".join(text.split())
    assert "External 4K m…" in text and "approved_by" in text.splitlines()[2]
    assert all(len(line) <= 40 for line in text.splitlines())
    narrow = _shown(_tool({"expenses": rows}), width=30)
    assert "not shown: approved_by" in narrow
    assert all(len(line) <= 30 for line in narrow.splitlines())


def test_one_record_is_one_row_and_a_scalar_answer_stays_text():
    assert _shown(_tool({"user": {"username": "dave", "role": "admin"}})).splitlines()[3].split(
        ) == ["dave", "admin"]
    assert "note posted" in _shown(_tool("note posted"))
    assert result_table('"just a string"') is None and result_table("[1, 2]") is None


@pytest.mark.parametrize("answer", [
    "[" * 100_000,                                        # nested too deep to parse
    '{"rows": [{"n": ' + "9" * 5000 + "}]}",              # more digits than Python converts
    '{"rows": [{"n": NaN, "m": Infinity, "big": 1e999}]}',
    json.dumps({"rows": [{"[bold red]key[/]": "[link=x]v[/link]",
                          "ctl": "\x1b[31m\x07\u202e", "deep": [[[[[[[[[[1]]]]]]]]]]}]}),
    json.dumps({"rows": [{"a": 1}, "not a record"]}),
    "x" * 300_000,
])
def test_hostile_answers_render_without_crashing_or_markup(answer):
    text = _shown(_tool(answer), width=50)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    if "[bold red]key" in answer:
        assert "[bold red]key" in text   # shown as typed, not applied


async def test_the_chat_shows_alices_expenses_as_a_table(make_app):
    app = make_app(patterns=("p03",))
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_until_ready()
        await send_prompt(pilot, app, "What are my expenses?")
        log = main_screen(app).query_one("#chat-log")
        lines = [line.text.rstrip() for line in log.lines]
        header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["id"])
        assert lines[header - 1].strip() == "expenses"
        assert lines[header].split() == ["id", "amount", "description", "status"]
        assert lines[header + 2].split() == ["4", "1450.0", "External", "4K", "monitor",
                                             "pending"]
        assert "every row: owner alice" in "\n".join(lines[header:])
        assert not any('"description":' in line for line in lines)
