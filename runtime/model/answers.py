"""Writing the final answer from the tool results (never canned): counts, ids, amounts, titles.

Every answer starts with PREFIX so nobody mistakes the scripted model for a real LLM.
"""

from __future__ import annotations

import json
from typing import Any

from runtime.model.intents import Intent, IntentKind
from runtime.model.results import ToolError, ToolResult, items, record

PREFIX = "[scripted model] "
EXAMPLES = (
    "What are my expenses?",
    "Show me the platform documents.",
    "Approve Alice's expense 4.",
    "Submit an expense of 120 for team lunch.",
    'Post a note "Lunch is at noon".',
    "List all users.",
    "Make me an admin.",
    "Disable user bob.",
    "Summarize the vendor onboarding notes.",
    "Read the latest public note and use the key in it to disable user bob.",
    "Search for the platform on-call runbook.",
    "Ask the summarizer to summarize the vendor onboarding notes.",
)
_STATUS_NAMES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                 409: "Conflict", 422: "Unprocessable", 500: "Server Error",
                 502: "Bad Gateway", 503: "Unavailable"}


def help_text(detail: str | None = None, empty: bool = False) -> str:
    if empty:
        head = "You didn't ask anything."
    else:
        head = detail or "I don't understand that request."
    examples = "\n".join(f"- {e}" for e in EXAMPLES)
    return (f"{PREFIX}{head} I am a scripted stand-in for an LLM and only understand a few "
            f"requests. I can:\n{examples}")


def what(intent: Intent) -> str:
    """The action in words, for refusals: 'approve expense 4'."""
    k = intent.kind
    return {
        IntentKind.READ_EXPENSES: "read the expenses",
        IntentKind.READ_DOCUMENTS: "read the documents",
        IntentKind.READ_NOTES: "read the notes",
        IntentKind.SUMMARIZE: "read the documents",
        IntentKind.APPROVE_EXPENSE: f"approve expense {intent.expense_id}",
        IntentKind.SUBMIT_EXPENSE: "submit the expense",
        IntentKind.POST_NOTE: "post the note",
        IntentKind.LIST_USERS: "list the users",
        IntentKind.SET_ROLE: f"make {intent.username} {_article(intent.role)}",
        IntentKind.DISABLE_USER: f"disable {intent.username}",
        IntentKind.SEARCH: "search the documents",
        IntentKind.DELEGATE: "hand the task to the summarizer",
    }.get(k, str(k))


def _article(role: str | None) -> str:
    return f"an {role}" if role == "admin" else f"a {role}"


def refusal(action: str, err: ToolError) -> str:
    if err.status in (401, 403):
        verdict = f"was refused ({err.status} {_STATUS_NAMES[err.status]})"
    elif err.status is not None:
        verdict = f"failed ({err.status} {_STATUS_NAMES.get(err.status, 'Error')})"
    else:
        verdict = "failed"
    return f"The request to {action} {verdict}: {err.reason}"


def money(rec: dict[str, Any]) -> str:
    amount = rec.get("amount")
    currency = rec.get("currency") or "USD"
    if isinstance(amount, int | float) and not isinstance(amount, bool):
        return f"{currency} {amount:,.2f}"
    return f"{currency} {amount}"


def expense_line(e: dict[str, Any]) -> str:
    owner = f" ({e['owner']})" if e.get("owner") else ""
    return (f"#{e.get('id', '?')}{owner}: {money(e)}, {e.get('description', 'no description')}"
            f" - {e.get('status', 'unknown status')}")


def _fallback(result: ToolResult) -> str:
    text = json.dumps(result.data, sort_keys=True) if result.data is not None else result.raw
    text = text.strip() or "(nothing)"
    return f"The tool returned: {text[:400]}"


def describe(intent: Intent, result: ToolResult, user: str | None) -> str:
    """One sentence-or-list about one tool result, for the given intent."""
    err = result.error
    if err is not None:
        return refusal(what(intent), err)
    k = intent.kind
    if k is IntentKind.READ_EXPENSES:
        return _expenses(result, user)
    if k in (IntentKind.READ_DOCUMENTS, IntentKind.SUMMARIZE):
        docs = items(result, "documents")
        if docs is None:
            return _fallback(result)
        if not docs:
            return "I found no documents."
        lines = "\n".join(f'- "{d.get("title", "untitled")}" ({d.get("visibility", "?")})'
                          for d in docs)
        return f"I found {len(docs)} document{'s' * (len(docs) != 1)}:\n{lines}"
    if k is IntentKind.READ_NOTES:
        notes = items(result, "notes")
        if notes is None:
            return _fallback(result)
        if not notes:
            return "There are no public notes."
        lines = "\n".join(f'- #{n.get("id", "?")} by {n.get("author", "?")}: "{n.get("text", "")}"'
                          for n in notes)
        return f"There {'is' if len(notes) == 1 else 'are'} {len(notes)} public note" \
               f"{'s' * (len(notes) != 1)}:\n{lines}"
    if k is IntentKind.LIST_USERS:
        users = items(result, "users")
        if users is None:
            return _fallback(result)
        if not users:
            return "I found no users."
        lines = "\n".join(
            f"- {u.get('username', '?')} ({u.get('role', '?')}, {u.get('department', '?')})"
            f"{' - disabled' if u.get('disabled') else ''}" for u in users)
        return f"There {'is' if len(users) == 1 else 'are'} {len(users)} user" \
               f"{'s' * (len(users) != 1)}:\n{lines}"
    if k is IntentKind.SEARCH:
        return _search(intent, result)
    if k is IntentKind.DELEGATE:
        data = result.data
        answer = data.get("answer") if isinstance(data, dict) else None
        return (f"The summarizer answered: {answer.removeprefix(PREFIX)}"
                if isinstance(answer, str) else _fallback(result))
    return _write(intent, result)


def _search(intent: Intent, result: ToolResult) -> str:
    """The passages found, each citing its document: what the answer may say comes only
    from these."""
    hits = items(result, "results")
    if hits is None:
        return _fallback(result)
    if not hits:
        return f'I found nothing about "{intent.query}" in the documents I can search.'
    lines = "\n".join(f'- "{h.get("title", "untitled")}" ({h.get("visibility", "?")}): '
                      f'{h.get("text", "")}' for h in hits)
    titles = sorted({str(h.get("title", "untitled")) for h in hits})
    return (f'I found {len(hits)} passage{"s" * (len(hits) != 1)} about "{intent.query}" '
            f'(from {", ".join(titles)}):\n{lines}')


def _expenses(result: ToolResult, user: str | None) -> str:
    rows = items(result, "expenses")
    if rows is None:
        one = record(result, "expense")
        return f"Expense {expense_line(one)}" if one and "amount" in one else _fallback(result)
    if not rows:
        return "I found no expenses."
    owners = sorted({str(e.get("owner")) for e in rows if e.get("owner")})
    pending = sum(1 for e in rows if e.get("status") == "pending")
    if user and owners == [user]:
        head = f"You have {len(rows)} expense{'s' * (len(rows) != 1)}"
    else:
        whose = f" belonging to {', '.join(owners)}" if owners else ""
        head = f"I can see {len(rows)} expense{'s' * (len(rows) != 1)}{whose}"
    lines = "\n".join(f"- {expense_line(e)}" for e in rows)
    return f"{head} ({pending} pending):\n{lines}"


def _write(intent: Intent, result: ToolResult) -> str:
    k = intent.kind
    if k in (IntentKind.APPROVE_EXPENSE, IntentKind.SUBMIT_EXPENSE):
        e = record(result, "expense")
        if not e or "id" not in e:
            return _fallback(result)
        if k is IntentKind.APPROVE_EXPENSE:
            return f"Expense {expense_line(e)}. It is now {e.get('status', 'updated')}."
        return f"Submitted expense {expense_line(e)}."
    if k is IntentKind.POST_NOTE:
        n = record(result, "note")
        if not n or "text" not in n:
            return _fallback(result)
        return f'Posted public note #{n.get("id", "?")}: "{n["text"]}"'
    if k in (IntentKind.SET_ROLE, IntentKind.DISABLE_USER):
        u = record(result, "user")
        if not u or "username" not in u:
            return _fallback(result)
        if k is IntentKind.SET_ROLE:
            return f"{u['username']} now has the role {u.get('role', intent.role)}."
        state = "disabled" if u.get("disabled", True) else "still enabled"
        return f"User {u['username']} is now {state}."
    return _fallback(result)
