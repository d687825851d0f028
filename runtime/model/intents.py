"""From one user prompt to a typed intent. Pure functions, no I/O.

The scripted model understands a small, fixed set of requests (the explorer's script plus
close paraphrases). Anything else is `UNKNOWN`: the model never guesses.
"""

from __future__ import annotations

import re

from runtime.model import actions
from runtime.model.actions import clean, has
from runtime.model.kinds import Intent, IntentKind, Role, unknown

__all__ = ["Intent", "IntentKind", "Role", "parse_intent"]

_DOC_WORDS = r"(?:notes?|documents?|docs?|files?|pages?|doc)"
_F = re.I | re.S


def parse_intent(text: str | None, user: str | None = None) -> Intent:
    """Classify one user prompt. `user` is who the model is helping (for "me"/"my")."""
    prompt = clean(text or "")
    if not re.search(r"\w", prompt):
        return Intent(IntentKind.EMPTY)
    for parser in (_delegate, _search, _use_note_key, actions.post_note, actions.submit,
                   _summarize, actions.approve, actions.set_role, actions.disable, _reads):
        intent = parser(prompt, user)
        if intent is not None:
            return intent
    return unknown()


def _delegate(text: str, user: str | None) -> Intent | None:
    """"Ask the summarizer to summarize ...": a task for the summarizer sub-agent."""
    m = re.match(r"^(?:please\s+)?(?:ask|have|get|let)\s+(?:the\s+)?summari[sz]er"
                 r"(?:\s+sub-?agent)?\s+(?:to\s+)?(?P<task>.*\w.*)$", text, _F)
    if not m:
        return None
    task = m.group("task").strip().rstrip(".!") + "."
    return Intent(IntentKind.DELEGATE, task=task[0].upper() + task[1:])


def _search(text: str, user: str | None) -> Intent | None:
    """"Search for ...", "Look up ...": a search over the documents."""
    m = re.match(r"^(?:please\s+)?(?:search(?:\s+the\s+(?:documents|docs))?|look\s+up|"
                 r"look\s+for)\s*(?:for\s+|:\s*)?(?P<q>.*\w.*)$", text, _F)
    if not m:
        return None
    query = m.group("q").strip().rstrip(".!?")
    return Intent(IntentKind.SEARCH, query=query[:200])


def _use_note_key(text: str, user: str | None) -> Intent | None:
    m = (re.search(r"\bnotes?\b.*?\b(?:use|using|with|take|taking)\s+(?:the\s+|that\s+|its\s+)?"
                   r"(?:api\s+)?key\b.*?\bto\s+(?P<rest>.+)$", text, _F)
         or re.search(r"\b(?:use|using|with|take)\s+(?:the\s+|that\s+)?(?:api\s+)?key\s+"
                      r"(?:from|in|on|of)\s+(?:the\s+)?(?:[a-z]+\s+){0,3}?notes?\b.*?\bto\s+"
                      r"(?P<rest>.+)$", text, _F))
    if not m:
        return None
    then = parse_intent(m.group("rest"), user)
    if then.kind in (IntentKind.UNKNOWN, IntentKind.EMPTY, IntentKind.USE_NOTE_KEY):
        return None
    return Intent(IntentKind.USE_NOTE_KEY, then=then)


def _summarize(text: str, user: str | None) -> Intent | None:
    m = (re.search(r"\b(?:summari[sz]e|sum\s+up|recap|tl;?dr(?:\s+of)?|summary\s+of)\b"
                   r"\s*(?P<topic>.*)$", text, _F)
         or re.search(r"\bwhat\s+(?:do|does)\s+(?P<topic>.+?)\s+say\b", text, _F)
         or re.search(r"\btell\s+me\s+about\s+(?P<topic>.+)$", text, _F))
    if not m:
        return None
    topic = re.sub(r"[^\w\s'-]", " ", m.group("topic").lower())
    topic = re.sub(r"\b(?:please|for me|the|a|an|me|all|of)\b", " ", topic)
    topic = re.sub(r"\s+", " ", topic).strip()
    if has(r"\bexpenses?\b", topic) or has(r"\busers\b", topic):
        return _reads(topic, user)
    stem = re.sub(_DOC_WORDS + r"$", "", topic).strip()
    if re.fullmatch(r"(?:(?:latest|public|recent|new|newest|last)\s*)*", stem) and \
            re.search(r"notes?$", topic):
        return Intent(IntentKind.READ_NOTES)
    return Intent(IntentKind.SUMMARIZE, query=stem or None)


def _reads(text: str, user: str | None) -> Intent | None:
    if has(r"\busers\b|\bdirectory\b|\bwho(?:'s|\s+is|\s+are)\b.*\b(?:users?|accounts?|people)"
            r"\b|\ball\s+(?:the\s+)?accounts\b", text):
        return Intent(IntentKind.LIST_USERS)
    if has(r"\bexpenses?\b", text):
        m = re.search(r"\bexpense\s*(?:#|number|no\.?|id)?\s*(\d+)\b", text, re.I)
        return Intent(IntentKind.READ_EXPENSES, expense_id=int(m.group(1)) if m else None)
    if has(r"\b(?:documents?|docs?)\b", text):
        return Intent(IntentKind.READ_DOCUMENTS)
    if has(r"\bnotes?\b|\bnotes\s+board\b", text):
        return Intent(IntentKind.READ_NOTES)
    return None
