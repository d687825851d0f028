"""The intents the scripted model understands, as types."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Role = Literal["admin", "user", "readonly"]


class IntentKind(StrEnum):
    EMPTY = "empty"
    UNKNOWN = "unknown"
    READ_EXPENSES = "read_expenses"
    READ_DOCUMENTS = "read_documents"
    READ_NOTES = "read_notes"
    SUMMARIZE = "summarize"
    APPROVE_EXPENSE = "approve_expense"
    SUBMIT_EXPENSE = "submit_expense"
    POST_NOTE = "post_note"
    LIST_USERS = "list_users"
    SET_ROLE = "set_role"
    DISABLE_USER = "disable_user"
    USE_NOTE_KEY = "use_note_key"  # read the latest note, then act with the key found in it
    SEARCH = "search"  # search the documents (the knowledge service)
    DELEGATE = "delegate"  # hand a task to the summarizer sub-agent


@dataclass(frozen=True)
class Intent:
    kind: IntentKind
    expense_id: int | None = None
    amount: float | None = None
    description: str | None = None
    text: str | None = None
    username: str | None = None
    role: Role | None = None
    query: str | None = None  # SUMMARIZE: title words; SEARCH: what to look for
    task: str | None = None  # DELEGATE: what the sub-agent is asked to do
    owner: str | None = None  # whose expense (for the answer only)
    then: Intent | None = None  # USE_NOTE_KEY: what to do with the key
    detail: str | None = None  # UNKNOWN: what was missing


def unknown(detail: str | None = None) -> Intent:
    return Intent(IntentKind.UNKNOWN, detail=detail)
