"""A small lexical checker for Rego modules: Rego v1 syntax and what regopy cannot run.

regopy (rego-cpp) accepts Rego v0 rule heads (`allow { ... }`, `deny[msg] { ... }`) that
OPA 1.x refuses, so a policy could pass in the embedded OPA and fail in the real one. This
module tokenizes a module (comments, strings and raw strings are understood, so braces and
keywords inside them never count) and reports, with line and column:

- a rule body not introduced by `if` (at nesting depth 0, a `{` that follows a rule head
  rather than an operator): OPA's "`if` keyword is required before rule body";
- a bare partial set rule `p[x]` / `p["x"]` without `contains`;
- calls to the built-ins OPA 1.x rejects as deprecated (`any`, `re_match`, ...);
- rules that shadow `input` or `data`.

`embedded_problems` adds what the embedded engine refuses although OPA accepts it: the `with`
keyword, on which regopy 1.5.2 aborts the whole process when the replaced document feeds a
rule that calls a built-in. Policies under stack/opa do not use `with`; their `*_test.rego`
files do and run under the real `opa test`.

It is a checker, not a parser: the authority is `opa check`, which the test-suite runs when
the OPA binary is available. It also lists a module's package and rule names, which the
engine uses as precompiled entry points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stack.errors import ExplorerError

__all__ = [
    "DEPRECATED_BUILTINS",
    "LintProblem",
    "RegoSyntaxError",
    "Token",
    "embedded_problems",
    "module_entrypoints",
    "tokenize",
    "v1_problems",
]

DEPRECATED_BUILTINS = frozenset(
    {
        "any",
        "all",
        "re_match",
        "set_diff",
        "net.cidr_overlap",
        "cast_array",
        "cast_set",
        "cast_string",
        "cast_boolean",
        "cast_null",
        "cast_object",
    }
)

# Tokens after which a `{` at depth 0 opens a value (object/set literal), not a rule body.
_VALUE_CONTEXT = frozenset("if := = == != < > <= >= | & + - * / % contains in not , :".split())
# A statement continues on the next line after one of these ...
_CONTINUES = _VALUE_CONTEXT | {"else", "."}
# ... or when the next line starts with one of these.
_CONTINUED_BY = frozenset({"else", ":=", "=", "==", "!=", "<=", ">=", "|", "&", "if", "contains"})

_TOKEN_RE = re.compile(
    r"""
      (?P<ws>[ \t\r\f\v]+)
    | (?P<nl>\n)
    | (?P<comment>\#[^\n]*)
    | (?P<string>"(?:[^"\\\n]|\\.)*")
    | (?P<raw>`[^`]*`)
    | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>:=|==|!=|<=|>=|[{}\[\]().,;:=<>|&+\-*/%!])
    """,
    re.VERBOSE,
)


class RegoSyntaxError(ExplorerError, ValueError):
    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(f"{line}:{column}: {message}")
        self.line = line
        self.column = column
        self.message = message


@dataclass(frozen=True)
class Token:
    kind: str  # ident | string | raw | number | op | nl
    text: str
    line: int
    column: int


@dataclass(frozen=True)
class LintProblem:
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


def tokenize(source: str) -> list[Token]:
    """Tokens of a Rego module, without whitespace and comments (newlines kept)."""
    tokens: list[Token] = []
    pos, line, line_start = 0, 1, 0
    while pos < len(source):
        m = _TOKEN_RE.match(source, pos)
        column = pos - line_start + 1
        if m is None:
            ch = source[pos]
            if ch == '"':
                raise RegoSyntaxError(line, column, "unterminated string")
            if ch == "`":
                raise RegoSyntaxError(line, column, "unterminated raw string")
            raise RegoSyntaxError(line, column, f"unexpected character {ch!r}")
        kind = m.lastgroup or ""
        text = m.group()
        if kind not in ("ws", "comment"):
            tokens.append(Token(kind, text, line, column))
        newlines = text.count("\n")
        if newlines:
            line += newlines
            line_start = pos + text.rindex("\n") + 1
        pos = m.end()
    return tokens


def _statements(tokens: list[Token]) -> list[list[Token]]:
    """Split into top-level statements (package, import, rules), newlines dropped."""
    statements: list[list[Token]] = []
    current: list[Token] = []
    depth = 0
    pending_break = False
    for tok in tokens:
        if tok.kind == "nl":
            if depth == 0 and current:
                pending_break = True
            continue
        if pending_break:
            pending_break = False
            if current[-1].text not in _CONTINUES and tok.text not in _CONTINUED_BY:
                statements.append(current)
                current = []
        if tok.kind == "op" and tok.text in "([{":
            depth += 1
        elif tok.kind == "op" and tok.text in ")]}":
            depth = max(0, depth - 1)
        current.append(tok)
    if current:
        statements.append(current)
    return statements


def _depth0(statement: list[Token]) -> list[tuple[int, Token]]:
    """(index, token) pairs of a statement's tokens at bracket depth 0."""
    out = []
    depth = 0
    for i, tok in enumerate(statement):
        if tok.kind == "op" and tok.text in ")]}":
            depth = max(0, depth - 1)
            if depth == 0:
                out.append((i, tok))
            continue
        if depth == 0:
            out.append((i, tok))
        if tok.kind == "op" and tok.text in "([{":
            depth += 1
    return out


def _is_rule(statement: list[Token]) -> bool:
    return bool(statement) and statement[0].text not in ("package", "import")


def _rule_name(statement: list[Token]) -> Token | None:
    toks = statement[1:] if statement and statement[0].text == "default" else statement
    if toks and toks[0].kind == "ident":
        return toks[0]
    return None


def v1_problems(source: str) -> list[LintProblem]:
    """Rego v1 syntax problems OPA 1.x would report but regopy would accept."""
    try:
        tokens = tokenize(source)
    except RegoSyntaxError as exc:
        return [LintProblem(exc.line, exc.column, exc.message)]
    problems: list[LintProblem] = []
    for statement in _statements(tokens):
        if not _is_rule(statement):
            continue
        top = _depth0(statement)
        texts = [t.text for _, t in top]
        name = _rule_name(statement)
        if name is not None and name.text in ("input", "data"):
            problems.append(
                LintProblem(
                    name.line,
                    name.column,
                    f"rules must not shadow {name.text} (use a different rule name)",
                )
            )
        for pos, (_, tok) in enumerate(top):
            if tok.text != "{" or tok.kind != "op":
                continue
            prev = top[pos - 1][1] if pos else None
            if prev is not None and prev.text in _VALUE_CONTEXT:
                continue
            is_function = prev is not None and prev.text == ")" and "(" in texts[:pos]
            what = "function body" if is_function else "rule body"
            problems.append(
                LintProblem(tok.line, tok.column, f"`if` keyword is required before {what}")
            )
            if (
                prev is not None
                and prev.text == "]"
                and not ({":=", "=", "contains"} & set(texts[:pos]))
            ):
                problems.append(
                    LintProblem(
                        tok.line,
                        tok.column,
                        "`contains` keyword is required for partial set rules",
                    )
                )
        # p[x] / p["x"] on its own: a v0 partial set.
        if (
            texts
            and texts[-1] == "]"
            and not ({":=", "=", "if", "contains", "{"} & set(texts))
            and statement[0].kind == "ident"
            and statement[0].text != "default"
        ):
            problems.append(
                LintProblem(
                    statement[0].line,
                    statement[0].column,
                    "`contains` keyword is required for partial set rules",
                )
            )
        problems.extend(_deprecated_calls(statement))
    return problems


def _deprecated_calls(statement: list[Token]) -> list[LintProblem]:
    problems = []
    for i, tok in enumerate(statement):
        if tok.text != "(" or i == 0 or statement[i - 1].kind != "ident":
            continue
        # Collect a dotted name ending right before "(".
        j = i - 1
        parts = [statement[j].text]
        while j >= 2 and statement[j - 1].text == "." and statement[j - 2].kind == "ident":
            j -= 2
            parts.insert(0, statement[j].text)
        if j >= 1 and statement[j - 1].text == ".":
            continue  # x.y.any(...) — a reference, not a built-in
        name = ".".join(parts)
        if name in DEPRECATED_BUILTINS:
            start = statement[j]
            problems.append(
                LintProblem(
                    start.line,
                    start.column,
                    f"deprecated built-in function calls in expression: {name}",
                )
            )
    return problems


def embedded_problems(source: str) -> list[LintProblem]:
    """Constructs OPA accepts but the embedded engine (regopy 1.5.2) cannot run safely."""
    try:
        tokens = tokenize(source)
    except RegoSyntaxError:
        return []
    return [
        LintProblem(
            tok.line,
            tok.column,
            "`with` is not supported by the embedded OPA (regopy 1.5.2 aborts on it); "
            "move it to a *_test.rego file or run the real OPA",
        )
        for tok in tokens
        if tok.kind == "ident" and tok.text == "with"
    ]


def module_entrypoints(source: str) -> tuple[str, list[str]]:
    """(package path, rule names) of a module, e.g. ("agentauth/rbac", ["decision"]).

    Functions are left out (they cannot be queried as documents). Raises RegoSyntaxError
    when the module has no package line.
    """
    all_tokens = tokenize(source)
    tokens = [t for t in all_tokens if t.kind != "nl"]
    if not tokens or tokens[0].text != "package":
        line, column = (tokens[0].line, tokens[0].column) if tokens else (1, 1)
        raise RegoSyntaxError(line, column, "a module must start with a package declaration")
    parts: list[str] = []
    i = 1
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind == "ident" and (not parts or tokens[i - 1].text == "."):
            parts.append(tok.text)
        elif tok.kind == "string" and tokens[i - 1].text == "[":
            parts.append(tok.text[1:-1])
        elif tok.text not in (".", "[", "]"):
            break
        i += 1
    if not parts:
        raise RegoSyntaxError(tokens[0].line, tokens[0].column, "package name missing")
    names: list[str] = []
    for statement in _statements(all_tokens):
        if not _is_rule(statement):
            continue
        name = _rule_name(statement)
        if name is None or name.text in names:
            continue
        idx = statement.index(name)
        if idx + 1 < len(statement) and statement[idx + 1].text == "(":
            continue
        names.append(name.text)
    return "/".join(parts), names
