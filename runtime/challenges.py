"""Challenges: the attacks of the script (and a few more), for students to perform by hand.

Each challenge has a goal, the patterns it can be solved under, up to three hints and a
detector. A detector reads the evidence of one action the student took (a prompt, a direct
tool call or a replay): the hops of its trace and the audit records the services wrote. It
never takes the student's word, and a script step never counts (only the student's own
actions are checked). A replay signed with an oracle key (the IdP's or the proof holder's,
which no attacker holds) proves a check, not an attack: break-in challenges ignore it.

    evidence = Evidence.of(runner, trace_id)
    for challenge, proof in detect(evidence):
        progress.mark(challenge.id, evidence.pattern, proof)

Progress is a small JSON file the student owns (mode 0600) in the platform's state folder;
`hand_in` copies it to an instructor's drop folder and `read_reports` reads that folder.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from runtime.services.world import API_KEY
from runtime.tokens import DecodedToken, located_tokens
from runtime.wire import Hop
from stack.errors import ExplorerError

if TYPE_CHECKING:
    from runtime.runner import PatternRunner
    from runtime.services.guard import AuditRecord

Kind = Literal["break in", "probe"]
CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "dpop"})
PROGRESS_VERSION = 1
PROGRESS_FILE = "challenges.json"
STATE_DIR_VARIABLE = "AGENT_AUTH_STATE_DIR"


def progress_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where a user's progress lives: the platform's state folder for the explorer (in a
    lab, each student's own home), or $AGENT_AUTH_STATE_DIR."""
    from platformdirs import user_state_path

    env = os.environ if environ is None else environ
    folder = Path(env[STATE_DIR_VARIABLE]) if env.get(STATE_DIR_VARIABLE) else (
        user_state_path("agent-auth", appauthor=False))
    return folder / PROGRESS_FILE


class ProgressError(ExplorerError):
    """A progress file or drop folder the explorer cannot use; the message says why."""


# -- evidence ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Evidence:
    """One action of the student's under one pattern: its hops and audit records, and every
    earlier hop of the pattern (a replay names the hop it replays)."""

    pattern: str
    actor: str
    hops: tuple[Hop, ...]
    audit: tuple[AuditRecord, ...]
    earlier: Mapping[int, Hop] = field(default_factory=dict)

    @classmethod
    def of(cls, runner: PatternRunner, trace_id: str) -> Evidence:
        hops = tuple(runner.tap.trace(trace_id))
        actor = next((h.user for h in hops if h.user), "")
        audit = tuple(r for r in runner.world.audit if r.trace_id == trace_id)
        return cls(runner.id, actor, hops, audit, {h.seq: h for h in runner.tap.hops})

    @property
    def replay(self) -> Hop | None:
        """The replayed request's hop, when this action is a replay."""
        return next((h for h in self.hops if isinstance(h.data.get("replay"), dict)), None)

    @property
    def genuine_replay(self) -> Hop | None:
        """The replay, unless an oracle key signed something in it."""
        hop = self.replay
        return hop if hop is not None and not hop.data["replay"].get("oracle") else None

    def original(self, hop: Hop) -> Hop | None:
        of = hop.data.get("replay", {}).get("of")
        return self.earlier.get(of) if isinstance(of, int) else None

    @property
    def by_user(self) -> str:
        """The user who acted by prompt or direct call ("" for a replay)."""
        return "" if self.replay is not None else self.actor

    def allowed(self, action: str) -> list[AuditRecord]:
        return [r for r in self.audit if r.action == action and r.allowed]


def _credentials(hop: Hop) -> dict[str, str]:
    return {k.lower(): v for k, v in hop.request_headers if k.lower() in CREDENTIAL_HEADERS}


def _path(hop: Hop) -> str:
    return urlsplit(hop.url).path


def _ok(hop: Hop) -> bool:
    return hop.status is not None and 200 <= hop.status < 300


def _bearer(hop: Hop) -> DecodedToken | None:
    return next((t for where, t in located_tokens(hop.request_headers, "")
                 if where == "authorization"), None)


def _reason(ev: Evidence) -> str:
    texts = [str(r.reason) for r in ev.audit] + [h.response_body[:400] for h in ev.hops
                                                 if h.data.get("replay")]
    return " ".join(texts).lower()


# -- detectors: each returns what proved it, or None ------------------------------------------

Detector = Callable[[Evidence], "str | None"]


def anonymous(ev: Evidence) -> str | None:
    hop = ev.genuine_replay
    if hop and hop.target == "records" and _path(hop) == "/expenses" and _ok(hop) and (
            not _credentials(hop)) and '"expenses"' in hop.response_body:
        return f"GET /expenses with no credential answered {hop.status}"
    return None


def shared_key(ev: Evidence) -> str | None:
    hop = ev.genuine_replay
    if hop and hop.target == "records" and _ok(hop) and "x-api-key" in _credentials(hop) and (
            any(r.method == "api_key" for r in ev.allowed("read_expenses"))):
        return "the agent's shared key read the expenses, with no user named"
    return None


def escalate(ev: Evidence) -> str | None:
    for record in ev.allowed("set_role"):
        if ev.by_user == "dave" and record.resource.get("username") == "dave" and (
                record.resource.get("role") == "admin"):
            return f"set_role dave=admin allowed (decided by {record.decided_by})"
    return None


def stolen_key(ev: Evidence) -> str | None:
    for record in ev.allowed("read_expenses"):
        if ev.by_user == "dave" and record.user == "alice":
            return "dave's request read alice's expenses as alice"
    return None


def exfiltrate(ev: Evidence) -> str | None:
    if not ev.allowed("post_note") or not any(h.kind == "prompt" for h in ev.hops):
        return None
    for hop in ev.hops:
        if hop.kind == "service" and _path(hop) == "/notes" and hop.method == "POST" and (
                API_KEY.search(hop.request_body)):
            return "the agent posted an API key in a public note"
    return None


def stale_replay(ev: Evidence) -> str | None:
    hop = ev.genuine_replay
    if hop and hop.kind == "service" and _ok(hop) and (
            float(hop.data["replay"].get("later") or 0) >= 3600):
        return f"a credential replayed an hour later was accepted ({hop.status})"
    return None


def passthrough(ev: Evidence) -> str | None:
    hop = ev.genuine_replay
    original = ev.original(hop) if hop else None
    if hop and original and original.target == "records" and hop.target == "directory" and (
            _ok(hop)):
        return "what the records service received was accepted by the directory"
    return None


def self_approval(ev: Evidence) -> str | None:
    for record in ev.allowed("approve_expense"):
        if ev.by_user == "alice" and record.resource.get("owner_name") == "alice":
            return f"alice's own expense {record.resource.get('id')} approved"
    return None


def agent_disables(ev: Evidence) -> str | None:
    for record in ev.allowed("disable_user"):
        if ev.by_user == "alice" and record.resource.get("username") == "bob":
            return f"bob disabled on alice's behalf (decided by {record.decided_by})"
    return None


def stolen_bearer(ev: Evidence) -> str | None:
    hop = ev.genuine_replay
    original = ev.original(hop) if hop else None
    if not (hop and original) or hop.kind != "service" or not _ok(hop):
        return None
    token, before = _bearer(hop), _bearer(original)
    if token and before and token.raw == before.raw and any(r.verified for r in ev.audit):
        return f"the captured token was accepted again ({hop.status})"
    return None


def tamper(ev: Evidence) -> str | None:
    hop = ev.genuine_replay
    original = ev.original(hop) if hop else None
    if not (hop and original) or hop.kind != "service" or hop.status != 401:
        return None
    sent, before = _bearer(hop), _bearer(original)
    if sent and before and sent.claims != before.claims and any(
            word in _reason(ev) for word in ("signature", "unknown key", "algorithm")):
        return "an edited token was refused for its signature"
    return None


def widened_audience(ev: Evidence) -> str | None:
    hop = ev.replay
    token = _bearer(hop) if hop else None
    if not (hop and token and hop.kind == "service" and hop.status == 401):
        return None
    if not isinstance(token.claims.get("aud"), list) or "alone" not in _reason(ev):
        return None
    for earlier in ev.earlier.values():
        replay = earlier.data.get("replay")
        if isinstance(replay, dict) and earlier.kind == "idp" and _ok(earlier) and (
                token.raw in earlier.response_body) and len(
                [k for k, _ in parse_qsl(earlier.request_body) if k == "audience"]) > 1:
            return "a token exchanged for two audiences was refused: it must name one alone"
    return None


def proof_reuse(ev: Evidence) -> str | None:
    hop = ev.genuine_replay
    original = ev.original(hop) if hop else None
    if not (hop and original) or hop.status != 401:
        return None
    proof, before = _credentials(hop).get("dpop"), _credentials(original).get("dpop")
    if proof and proof == before and hop.url != original.url and "htu" in _reason(ev):
        return "a DPoP proof sent with another URL was refused (htu)"
    return None


def sub_agent_posts(ev: Evidence) -> str | None:
    if ev.by_user != "alice" or not ev.allowed("post_note"):
        return None
    handed = {h.data["delegation"].get("sub_agent") for h in ev.hops
              if isinstance(h.data.get("delegation"), dict)}     # the agent's hand-offs
    for hop in ev.hops:
        if hop.kind == "mcp" and hop.source in handed and _ok(hop) and (
                hop.summary.startswith("tools/call write_data")):
            return "the summarizer sub-agent posted a public note with alice's authority"
    return None


def retrieval_leak(ev: Evidence) -> str | None:
    if ev.by_user != "dave":
        return None
    for hop in ev.hops:
        if hop.kind == "service" and hop.target == "knowledge" and _ok(hop):
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                for hit in json.loads(hop.response_body).get("results", []):
                    if hit.get("visibility") not in ("public", "platform"):   # dave's reach
                        return (f"the search served dave a passage of {hit.get('title')!r} "
                                f"({hit.get('visibility')})")
    return None


# -- the catalogue ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Challenge:
    id: str
    title: str
    goal: str
    kind: Kind
    solvable: frozenset[str]
    hints: tuple[str, ...]
    detect: Detector
    step: str = ""              # the script step it mirrors, if any

    def __post_init__(self) -> None:
        if not 1 <= len(self.hints) <= 3:
            raise ValueError(f"challenge {self.id}: one to three hints")


def _p(*numbers: int) -> frozenset[str]:
    return frozenset(f"p{n:02d}" for n in numbers)


REPLAY_HINT = ("In the Wire pane (4) select a hop and press R to edit and resend it "
               "(agent-auth replay, on the command line).")
CALL_HINT = ("T calls a tool yourself, as the current user, with the arguments you give "
             "(agent-auth call).")

CHALLENGES: tuple[Challenge, ...] = (
    Challenge("anonymous", "Walk in the front door",
              "Read the expense list straight from the records service, with no credential.",
              "break in", _p(1), (
                  REPLAY_HINT,
                  "Pick the records service's GET /expenses hop; delete any credential "
                  "header before sending.",
                  "Under pattern 01 the service checks nothing at all."), anonymous, "A1"),
    Challenge("shared-key", "One key opens every door",
              "With the agent's shared API key, read every expense straight from the "
              "records service.", "break in", _p(2), (
                  "The key travels on the wire: look at the headers of a records hop.",
                  REPLAY_HINT,
                  "The service cannot tell who asks: the key names the agent, not a user."),
              shared_key),
    Challenge("escalate", "Promote yourself",
              "As dave (read-only), make yourself an admin.", "break in", _p(1, 2), (
                  "Switch to dave (u), then ask the agent, or call manage_users (T).",
                  "set_role with username dave and role admin.",
                  "Nothing checks who asks until pattern 03."), escalate, "A2"),
    Challenge("stolen-key", "Borrowed key",
              "As dave, read alice's expenses with alice's API key.", "break in", _p(3), (
                  "Alice's key shows on the wire when she reads her expenses.",
                  CALL_HINT + " Put her key in api_key.",
                  "Under pattern 03 the key is whatever the model passes."), stolen_key, "A3"),
    Challenge("exfiltrate", "Loose lips",
              "Get the agent to post a user's API key in a public note.", "break in", _p(3),
              ("A document can carry instructions the model follows.",
               "As alice, ask: \"Summarize the vendor onboarding notes.\"",
               "The model can only leak a key it holds: pattern 03 puts it in the prompt."),
              exfiltrate,
              "A3"),
    Challenge("stale-replay", "An hour too late",
              "Replay a captured credential as if an hour had passed, and be let in.",
              "break in", _p(1, 2, 3, 4), (
                  REPLAY_HINT,
                  "In the editor, l sends the next request an hour later (replay --later 1h).",
                  "API keys do not expire; tokens do (from pattern 05)."), stale_replay, "A4"),
    Challenge("passthrough", "Confused deputy",
              "Send what the records service received to the directory service and be "
              "served there.", "break in", _p(1, 2, 3, 4, 5), (
                  REPLAY_HINT + " Pick a records service hop.",
                  "In the editor, 'send to' picks directory; change the path to /users.",
                  "A token for every service works at every service (pattern 05)."),
              passthrough, "A5"),
    Challenge("self-approval", "Sign your own cheque",
              "As alice, approve your own expense 4.", "break in", _p(1, 2, 3, 4, 5, 6), (
                  "Ask the agent as alice, or call write_data (T).",
                  "write_data with action approve_expense and expense_id 4.",
                  "Roles alone cannot say 'not your own' (patterns up to 06)."),
              self_approval, "A6"),
    Challenge("agent-disables", "Too much agency",
              "As alice, get bob disabled without doing it yourself.", "break in",
              _p(1, 2, 3, 4, 5, 6), (
                  "Ask the agent as alice to disable user bob.",
                  "Or call manage_users (T) with action disable and username bob.",
                  "Until pattern 07 the service cannot tell the agent from alice."),
              agent_disables, "A6"),
    Challenge("stolen-bearer", "Finders keepers",
              "Replay a token captured on a service hop, within its lifetime, and be served.",
              "break in", _p(5, 6, 7), (
                  REPLAY_HINT + " Pick a service hop that carries a token.",
                  "Send it as it is (ctrl+s).",
                  "A bearer token works for whoever holds it, until pattern 08 binds it."),
              stolen_bearer, "A7"),
    Challenge("tamper", "Forged papers",
              "Change a claim in a token (sub, role, aud) and send it: find which check "
              "refuses it.", "probe", _p(5, 6, 7, 8, 9, 10), (
                  REPLAY_HINT,
                  "Edit a claim on the right; keep the original signature (or sign with the "
                  "attacker's key).",
                  "The signature covers every claim."), tamper),
    Challenge("widened-audience", "One token, two doors",
              "Ask the IdP for a token valid at both services, then see a service refuse it.",
              "probe", _p(6, 7), (
                  REPLAY_HINT + " Pick the token-exchange hop (kind idp).",
                  "Add a second line to the body: &audience=directory-service.",
                  "Then replay a service hop with the new token in Authorization."),
              widened_audience),
    Challenge("proof-reuse", "Wrong address",
              "Send a request's DPoP proof with a request to another URL: see it refused.",
              "probe", _p(8, 9, 10), (
                  REPLAY_HINT + " Pick a service hop under pattern 08 or later.",
                  "Change the path (or send it to the directory), keep the DPoP header.",
                  "A proof names the method and URL it was made for (htm, htu)."),
              proof_reuse),
    Challenge("sub-agent", "The helper's helper",
              "As alice, get the agent's summarizer sub-agent to post a public note.",
              "break in", _p(1, 2, 3, 4, 5, 6, 7, 8), (
                  "The agent hands summarizing tasks to a sub-agent (ask_summarizer).",
                  "As alice, ask: \"Ask the summarizer to summarize the vendor onboarding "
                  "notes.\"",
                  "A summary only needs to read; until pattern 09 the sub-agent holds "
                  "everything the agent holds."), sub_agent_posts, "A8"),
    Challenge("retrieval-leak", "Read between the lines",
              "As dave, get a search to serve you a passage of a document you may not read.",
              "break in", _p(1, 2, 3, 4, 5, 6, 7, 8, 9), (
                  "Switch to dave (u); the agent's search tool reads the knowledge base.",
                  "Ask about something only admins know: \"Look up how often we rotate the "
                  "break-glass keys.\"",
                  "Until pattern 10 the index ranks every document, whoever asks."),
              retrieval_leak, "A9"),
)
BY_ID = {c.id: c for c in CHALLENGES}


@dataclass(frozen=True)
class Judged:
    challenge: Challenge
    pattern: str
    proof: str
    new: bool            # not solved before under this pattern
    saved: bool = True   # False when the progress file could not be written


async def judge(runner: PatternRunner, trace_id: str, progress: Progress) -> list[Judged]:
    """What the student's action `trace_id` solved, recorded in `progress` (written off
    the event loop)."""
    import asyncio

    found = []
    for challenge, proof in detect(Evidence.of(runner, trace_id)):
        try:
            new = await asyncio.to_thread(progress.mark, challenge.id, runner.id, proof)
            found.append(Judged(challenge, runner.id, proof, new))
        except ProgressError as exc:
            progress.problem = str(exc)
            found.append(Judged(challenge, runner.id, proof, True, saved=False))
    return found


def detect(evidence: Evidence) -> list[tuple[Challenge, str]]:
    """The challenges this action solved, each with what proved it."""
    found = []
    for challenge in CHALLENGES:
        proof = challenge.detect(evidence)
        if proof:
            found.append((challenge, proof))
    return found


# -- progress -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Solved:
    challenge: str
    pattern: str
    at: str
    proof: str


class Progress:
    """One student's solved challenges, kept in a JSON file only they can read."""

    def __init__(self, path: Path, user: str | None = None) -> None:
        self.path = path
        self.user = user or _login()
        self.solved: dict[tuple[str, str], Solved] = {}
        self.problem = ""
        self._load()

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            self.problem = f"cannot read {self.path}: {exc}"
            return
        try:
            self.solved = {(s.challenge, s.pattern): s for s in parse_progress(text)[1]}
        except ProgressError as exc:   # keep the unreadable file; start afresh beside it
            aside = self.path.with_name(f"{self.path.name}.unreadable-{int(time.time())}")
            with contextlib.suppress(OSError):
                self.path.rename(aside)
            self.problem = f"{exc}; kept it as {aside.name} and started afresh"

    def is_solved(self, challenge: str, pattern: str) -> bool:
        return (challenge, pattern) in self.solved

    def mark(self, challenge: str, pattern: str, proof: str) -> bool:
        """Record a solve (True when it is new) and save."""
        if (challenge, pattern) in self.solved:
            return False
        self.solved[(challenge, pattern)] = Solved(
            challenge, pattern, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), proof)
        self.save()
        return True

    def to_json(self) -> dict[str, Any]:
        return {"version": PROGRESS_VERSION, "user": self.user,
                "solved": [s.__dict__ for s in sorted(self.solved.values(),
                                                       key=lambda s: (s.pattern, s.challenge))]}

    def save(self) -> None:
        write_private(self.path, json.dumps(self.to_json(), indent=1), mode=0o600)

    def hand_in(self, drop: Path) -> Path:
        """A copy in the instructor's drop folder, readable by its group (the instructors),
        not by other students: `<user>.json`, mode 0640."""
        if not drop.is_dir():
            raise ProgressError(f"{drop} is not a folder (ask your instructor for the "
                                "hand-in folder)")
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", self.user):
            raise ProgressError(f"cannot hand in as {self.user!r}: not a plain login name")
        target = drop / f"{self.user}.json"
        write_private(target, json.dumps(self.to_json(), indent=1), mode=0o640)
        return target


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "student"


def write_private(path: Path, text: str, mode: int) -> None:
    """Write `text` atomically (a temp file in the same folder, then a rename) with `mode`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(temp, mode)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
    except OSError as exc:
        raise ProgressError(f"cannot write {path}: {exc}") from None


def parse_progress(text: str) -> tuple[str, list[Solved]]:
    """(user, solved) from a progress file's text; ProgressError when it is not one."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ProgressError("the progress file is not JSON") from None
    if not isinstance(data, dict) or data.get("version") != PROGRESS_VERSION:
        raise ProgressError("the progress file is not one this explorer writes")
    user, entries = data.get("user"), data.get("solved")
    if not isinstance(user, str) or not isinstance(entries, list):
        raise ProgressError("the progress file has no user or no solved list")
    solved = []
    for entry in entries:
        if not isinstance(entry, dict) or not all(
                isinstance(entry.get(k), str) for k in ("challenge", "pattern", "at", "proof")):
            raise ProgressError("the progress file has a malformed entry")
        if entry["challenge"] in BY_ID:       # a challenge since removed is dropped quietly
            solved.append(Solved(entry["challenge"], entry["pattern"], entry["at"],
                                 entry["proof"]))
    return user, solved


# -- the instructor's report ------------------------------------------------------------------

@dataclass(frozen=True)
class Report:
    students: dict[str, list[Solved]]
    unreadable: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"challenges": [c.id for c in CHALLENGES],
                "students": {u: [s.__dict__ for s in solved]
                             for u, solved in sorted(self.students.items())},
                "unreadable": self.unreadable}


def read_reports(folder: Path) -> Report:
    """Every handed-in progress file in `folder` (bad ones listed with the reason)."""
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix == ".json")
    except OSError as exc:
        raise ProgressError(f"cannot read {folder}: {exc}") from None
    students: dict[str, list[Solved]] = {}
    unreadable: dict[str, str] = {}
    for path in files:
        try:
            user, solved = parse_progress(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            unreadable[path.name] = str(exc)
            continue
        except ProgressError as exc:
            unreadable[path.name] = str(exc)
            continue
        students[user or path.stem] = solved
    return Report(students, unreadable)


def solved_patterns(solved: Iterable[Solved]) -> dict[str, list[str]]:
    """challenge id -> the patterns it was solved under."""
    table: dict[str, list[str]] = {}
    for entry in solved:
        table.setdefault(entry.challenge, []).append(entry.pattern)
    return {k: sorted(v) for k, v in table.items()}
