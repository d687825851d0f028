"""Parsers for the requests that change something: notes, expenses, roles, accounts.

Each takes the cleaned prompt and the current user and returns an Intent, or None when the
prompt is not that kind of request. A request missing a needed detail is UNKNOWN with a hint.
"""

from __future__ import annotations

import re

from runtime.model.kinds import Intent, IntentKind, Role, unknown

_NAME = r"[a-z][a-z0-9_.-]*"
_ROLE = (r"(?P<role>administrator|admin|read[- ]?only(?:\s+user)?"
         r"|(?:regular|normal|standard|plain)\s+user|user)")
_SELF = {"me", "myself", "my", "i"}
_NOT_NAMES = {"the", "a", "an", "user", "users", "account", "accounts", "all", "it", "this",
              "that", "them", "expense", "note", "key", "role", "everyone", "everybody"}
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "`": "`"}
_F = re.I | re.S


def clean(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    return re.sub(r"\s+", " ", text).strip()


def has(pattern: str, text: str) -> bool:
    return re.search(pattern, text, _F) is not None


def _person(raw: str | None, user: str | None) -> str | None:
    """A named user, or the current user for me/my/myself; None when it is no name."""
    if raw is None:
        return None
    name = raw.lower().rstrip(".-_")
    if name in _SELF:
        return user
    return None if name in _NOT_NAMES or not name else name


def _role(raw: str) -> Role:
    raw = raw.lower()
    if "admin" in raw:
        return "admin"
    return "readonly" if raw.startswith("read") else "user"


def _number(text: str) -> int | None:
    text = re.sub(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b",
                  lambda m: _NUMBER_WORDS[m.group(1).lower()], text, flags=re.I)
    m = re.search(r"(?:expense|document|doc|#|number|no\.|id)\s*(?:#|number|no\.?|id)?\s*:?\s*"
                  r"(\d+)\b", text, re.I)
    m = m or re.search(r"\b(\d+)\b", text)
    return int(m.group(1)) if m else None


def post_note(text: str, user: str | None) -> Intent | None:
    m = re.search(r"\b(?:post|publish|share|put up)\s+(?P<q>[\"'\u201c`].+?[\"'\u201d`])\s+"
                  r"as\s+(?:a\s+)?(?:new\s+)?(?:public\s+)?note\b", text, _F)
    if m:
        return Intent(IntentKind.POST_NOTE, text=m.group("q")[1:-1].strip())
    m = re.search(r"\b(?:post|write|leave|add|publish|create|put up)\s+"
                  r"(?:a\s+|the\s+|this\s+|one\s+)?(?:new\s+)?(?:public\s+)?note\b"
                  r"(?P<rest>.*)$", text, _F)
    if not m:
        return None
    rest = m.group("rest").strip()
    rest = re.sub(r"^(?:(?:on|to)\s+the\s+(?:public\s+)?(?:notes?\s+)?(?:board|wall)\s*)?"
                  r"(?:[:,\-]\s*|(?:saying|that\s+says|which\s+says|reading|with\s+(?:the\s+)?"
                  r"text)\s*[:,]?\s*)*", "", rest, flags=re.I)
    quoted = _quoted(rest)
    note = quoted if quoted is not None else rest.strip()
    if not note:
        return unknown("What should the note say? Try: Post a note \"Lunch is at noon\".")
    return Intent(IntentKind.POST_NOTE, text=note)


def _quoted(text: str) -> str | None:
    if text and text[0] in _QUOTES:
        end = text.find(_QUOTES[text[0]], 1)
        if end > 1:
            return text[1:end].strip()
    return None


_AMOUNT = (r"(?:(?P<cur>\$|usd|eur|gbp)\s*)?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
           r"(?:\s*(?:\$|usd|eur|gbp|dollars?|bucks|euros?))?")


def submit(text: str, user: str | None) -> Intent | None:
    if not has(r"\b(?:submit|file|create|add|log|record|enter|claim|new)\b.*\bexpense", text):
        return None
    if has(r"\b(?:approve|list|show)\b", text):
        return None
    m = re.search(_AMOUNT, text, re.I)
    if not m:
        return unknown("How much is the expense? Try: Submit an expense of 120 for team lunch.")
    amount = float(m.group("num").replace(",", ""))
    rest = (text[: m.start()] + text[m.end():])
    rest = re.sub(r"\b(?:of|worth|totall?ing|amounting to)\s*(?=\s|$)", " ", rest, flags=re.I)
    desc = _quoted_anywhere(rest)
    if desc is None:
        d = re.search(r"\b(?:for|on)\s+(?:an?\s+|the\s+|our\s+|my\s+)?(?P<d>.+?)\s*[.!?]*$",
                      rest, re.I)
        desc = d.group("d") if d else None
    if desc:
        desc = re.sub(r"[\s,]+(?:please|thanks|thank you)$", "", desc.strip(), flags=re.I)
    if not desc:
        return unknown("What is the expense for? Try: Submit an expense of 120 for team lunch.")
    return Intent(IntentKind.SUBMIT_EXPENSE, amount=amount, description=desc)


def _quoted_anywhere(text: str) -> str | None:
    m = re.search(r"[\"\u201c]([^\"\u201d]+)[\"\u201d]", text)
    return m.group(1).strip() if m else None


def approve(text: str, user: str | None) -> Intent | None:
    if not has(r"\bapprove\b|\bsign\s+off\b", text):
        return None
    expense_id = _number(text)
    if expense_id is None:
        return unknown("Which expense should I approve? Try: Approve expense 4.")
    owner = None
    m = re.search(r"\b(?:approve|sign\s+off(?:\s+on)?)\s+(?:(?P<own>" + _NAME +
                  r")(?:'s|s')|(?P<my>my)(?:\s+own)?)\s+expense", text, re.I)
    m2 = re.search(r"\bexpense\s*#?\s*\d+\s+(?:of|from|by|for)\s+(?P<own>" + _NAME + ")",
                   text, re.I)
    if m and m.group("my"):
        owner = user
    elif m:
        owner = _person(m.group("own"), user)
    elif m2:
        owner = _person(m2.group("own"), user)
    return Intent(IntentKind.APPROVE_EXPENSE, expense_id=expense_id, owner=owner)


_SET_ROLE_PATTERNS = (
    r"\b(?:make|turn)\s+(?P<who>" + _NAME + r")\s+(?:into\s+)?(?:an?\s+)?" + _ROLE + r"\b",
    r"\b(?:give|grant)\s+(?P<who>" + _NAME + r")\s+(?:the\s+)?(?:an?\s+)?" + _ROLE + r"\b",
    r"\b(?:give|grant)\s+(?:the\s+)?" + _ROLE + r"\s+(?:role\s+|rights\s+|access\s+|"
    r"privileges\s+|permissions\s+)?to\s+(?P<who>" + _NAME + r")",
    r"\b(?:promote|demote|change|switch|move)\s+(?P<who>" + _NAME + r")\s+to\s+(?:an?\s+)?"
    + _ROLE + r"\b",
    r"\b(?:set|change|update)\s+(?P<who>" + _NAME + r")(?:'s)?\s+role\s+to\s+(?:an?\s+)?"
    + _ROLE + r"\b",
    r"\b(?P<who>i)\s+(?:want|need|would\s+like)\s+to\s+(?:be|become)\s+(?:an?\s+)?"
    + _ROLE + r"\b",
)


def set_role(text: str, user: str | None) -> Intent | None:
    for pattern in _SET_ROLE_PATTERNS:
        m = re.search(pattern, text, re.I)
        if not m:
            continue
        raw = m.group("who").lower()
        who = _person(raw, user)
        if who is None and raw in _SELF:
            return unknown("I don't know who you are: my instructions name no user.")
        if who is not None:
            return Intent(IntentKind.SET_ROLE, username=who, role=_role(m.group("role")))
    return None


def disable(text: str, user: str | None) -> Intent | None:
    m = re.search(r"\b(?:disable|deactivate|suspend|lock\s+out|lock|block|ban)\s+(?:the\s+)?"
                  r"(?:user\s+account\s+|user\s+|account\s+)?(?:of\s+)?(?:user\s+)?@?"
                  r"(?P<who>" + _NAME + ")", text, re.I)
    if not m:
        return None
    raw = m.group("who").lower().rstrip(".-_")
    who = _person(raw, user)
    if who is None:
        if raw in _SELF:
            return unknown("I don't know who you are: my instructions name no user.")
        return unknown("Which user should I disable? Try: Disable user bob.")
    return Intent(IntentKind.DISABLE_USER, username=who)
