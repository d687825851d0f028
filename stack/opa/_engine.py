"""Load the policy folder into regopy and evaluate documents the way OPA's data API does.

Loading (`PolicySet.from_dir`): every `*.rego` except `*_test.rego` and every `data.json`
below the folder, like `opa run stack/opa` (a `data.json` in a sub-folder lands under that
folder's path). Each module is checked for Rego v1 syntax and for what regopy cannot run
(see `_lint`); any problem, a Rego parse error or a bad `data.json` is a `PolicyLoadError`
naming the file, line and column.

Evaluation (`RegoEngine`): regopy recompiles every module on each plain `query()` (~6 ms
for these policies), so the engine compiles once at load into a bundle whose entry points
are every package, every rule and every top-level data key, then runs the precompiled plan
per request (~0.3 ms including setting the input). A path below an entry point is resolved by
walking the entry point's (object) value; any other path (the root, an unknown path) takes
the slow road: a fresh interpreter and a plain query. The engine is meant for one event loop;
a lock keeps it correct if it is ever called from threads.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import regopy
from regopy import LogLevel, RegoError
from regopy.rego_shared import (
    rego_bundle_query_entrypoint,
    rego_free_output,
    rego_get_error,
    rego_node_get,
    rego_node_json,
    rego_node_size,
    rego_output_node,
    rego_output_ok,
    rego_output_string,
    rego_query,
    rego_set_input_term,
)

from stack.errors import ExplorerError

from ._lint import RegoSyntaxError, embedded_problems, module_entrypoints, v1_problems

POLICY_DIR: Final = Path(__file__).resolve().parent


class _NoInput:
    def __repr__(self) -> str:
        return "NO_INPUT"


NO_INPUT: Final = _NoInput()
"""Sentinel: evaluate with `input` undefined (a request without an "input" key)."""


class PolicyLoadError(ExplorerError):
    """The policy set cannot be loaded: which file, where, and why."""

    def __init__(
        self,
        file: str | Path,
        message: str,
        line: int | None = None,
        column: int | None = None,
        more: Sequence[str] = (),
    ) -> None:
        self.file = str(file)
        self.message = message
        self.line = line
        self.column = column
        self.more = list(more)
        where = self.file
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        text = f"{where}: {message}"
        if self.more:
            text += "".join(f"\n  also: {m}" for m in self.more)
        super().__init__(text)


class PolicyEvalError(ExplorerError, RuntimeError):
    """Evaluation failed (conflicting rule values, a missing function, an engine error)."""


@dataclass(frozen=True)
class Evaluation:
    """One evaluated document: `defined` is False when OPA would answer `{}`."""

    defined: bool
    value: Any = None
    eval_ns: int = 0
    input_ns: int = 0


@dataclass(frozen=True)
class PolicySet:
    """Rego modules (display name -> source) and the merged base document."""

    modules: Mapping[str, str]
    data: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<memory>"

    @classmethod
    def from_dir(cls, policy_dir: str | Path | None = None) -> PolicySet:
        root = Path(policy_dir) if policy_dir is not None else POLICY_DIR
        if not root.is_dir():
            raise PolicyLoadError(root, "policy folder not found")
        modules: dict[str, str] = {}
        data: dict[str, Any] = {}
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if any(part.startswith((".", "__")) for part in rel.parts) or not path.is_file():
                continue
            if path.suffix == ".rego" and not path.name.endswith("_test.rego"):
                modules[str(path)] = _read_text(path)
            elif path.name == "data.json":
                doc = _parse_data_json(path, _read_text(path))
                _merge_data(data, list(rel.parent.parts), doc, path)
        if not modules:
            raise PolicyLoadError(root, "no .rego policy files found")
        return cls.from_sources(modules, data, source=str(root))

    @classmethod
    def from_sources(
        cls,
        modules: Mapping[str, str],
        data: Mapping[str, Any] | None = None,
        source: str = "<memory>",
    ) -> PolicySet:
        for name, src in modules.items():
            problems = v1_problems(src) + embedded_problems(src)
            if problems:
                first, *rest = problems
                raise PolicyLoadError(
                    name,
                    f"{first.message} (Rego v1 / embedded OPA)",
                    first.line,
                    first.column,
                    [str(p) for p in rest],
                )
            try:
                module_entrypoints(src)
            except RegoSyntaxError as exc:
                raise PolicyLoadError(name, exc.message, exc.line, exc.column) from None
        return cls(dict(modules), dict(data or {}), source)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyLoadError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise PolicyLoadError(path, f"cannot read: {exc.strerror or exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_data_json(path: Path, text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise PolicyLoadError(path, f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except ValueError as exc:
        raise PolicyLoadError(path, f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise PolicyLoadError(path, f"must hold a JSON object, not {type(doc).__name__}")
    return doc


def _merge_data(target: dict[str, Any], prefix: list[str], doc: dict[str, Any], path: Path) -> None:
    node = target
    for part in prefix:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise PolicyLoadError(path, f"data path {'/'.join(prefix)} conflicts with other data")
        node = child
    for key, value in doc.items():
        if key in node:
            raise PolicyLoadError(path, f"data key {'/'.join([*prefix, key])} is defined twice")
        node[key] = value


# --- regopy errors -------------------------------------------------------------------------

_ERROR_LOC = re.compile(r"\(error (\d+):")
_ERRORMSG = re.compile(r"\(errormsg (\d+):")


def _sexpr_errors(text: str) -> list[tuple[str | None, int | None, str]]:
    """(file, byte offset, message) triples from rego-cpp's S-expression error text."""
    out: list[tuple[str | None, int | None, str]] = []
    for chunk in re.split(r"(?=\(error\b)", text):
        if not chunk.startswith("(error"):
            continue
        file: str | None = None
        offset: int | None = None
        loc = _ERROR_LOC.match(chunk)
        if loc:
            start = loc.end()
            n = int(loc.group(1))
            file = chunk[start : start + n]
            m = re.match(r"\|(\d+)\|", chunk[start + n :])
            offset = int(m.group(1)) if m else None
        msg = _ERRORMSG.search(chunk)
        if msg:
            start = msg.end()
            message = chunk[start : start + int(msg.group(1))]
        else:
            message = chunk.strip().splitlines()[0]
        out.append((file, offset, message))
    return out


def _line_col(source: str, byte_offset: int) -> tuple[int, int]:
    prefix = source.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore")
    line = prefix.count("\n") + 1
    return line, len(prefix) - (prefix.rfind("\n") + 1) + 1


def _new_interpreter() -> regopy.Interpreter:
    interp = regopy.Interpreter()
    interp.log_level = LogLevel.NONE  # rego-cpp otherwise prints errors to stdout
    return interp


def _read_output(interp: regopy.Interpreter, impl: int) -> tuple[bool, Any]:
    """(defined, value) of a regopy output; frees it. Raises PolicyEvalError."""
    try:
        if not rego_output_ok(impl):
            raise PolicyEvalError(_output_error(interp, impl))
        text = rego_output_string(impl)
    finally:
        rego_free_output(impl)
    if text == "undefined":
        return False, None
    if text.startswith("(error"):
        errors = _sexpr_errors(text)
        raise PolicyEvalError("; ".join(m for _, _, m in errors) or text.strip())
    try:
        doc = json.loads(text)
    except ValueError:
        raise PolicyEvalError(f"unreadable engine output: {text[:200]}") from None
    if isinstance(doc, list):  # several results: OPA would report a conflict
        if len(doc) != 1:
            raise PolicyEvalError("query produced several results")
        doc = doc[0]
    expressions = doc.get("expressions", []) if isinstance(doc, dict) else []
    if not expressions:
        return False, None
    return True, expressions[0]


def _output_error(interp: regopy.Interpreter, impl: int) -> str:
    message = rego_get_error(interp._impl)
    if message:
        found = _sexpr_errors(message)
        return "; ".join(m for _, _, m in found) or message.strip()
    node = rego_output_node(impl)
    messages: list[str] = []
    if node:
        for k in range(rego_node_size(node)):
            for _, _, m in _sexpr_errors(rego_node_json(rego_node_get(node, k))):
                if m not in messages:
                    messages.append(m)
    return "; ".join(messages) or "policy evaluation failed"


def _input_term(value: Any) -> str:
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PolicyEvalError(f"input is not JSON: {exc}") from None


def split_path(path: str | Sequence[str]) -> tuple[str, ...]:
    """'agentauth/rbac/decision' or 'data.agentauth.rbac.decision' -> segments."""
    if isinstance(path, str):
        text = path.strip()
        if text == "data" or text.startswith("data."):
            text = text[len("data") :].replace(".", "/")
        return tuple(p for p in text.split("/") if p)
    return tuple(path)


class RegoEngine:
    """A compiled policy set, ready to answer `evaluate(path, input)`."""

    def __init__(self, policy: PolicySet) -> None:
        self.policy = policy
        self._lock = threading.Lock()
        compiler = self._fresh_interpreter()
        entrypoints: set[tuple[str, ...]] = set()
        for src in policy.modules.values():
            package, rules = module_entrypoints(src)
            pkg = tuple(package.split("/"))
            entrypoints.add(pkg)
            entrypoints.update((*pkg, rule) for rule in rules)
        entrypoints.update((key,) for key in policy.data)
        # A probe over the whole document surfaces errors rego-cpp only finds when it
        # evaluates (a missing function, recursion) before the first request does.
        try:
            _read_output(compiler, rego_query(compiler._impl, "data"))
        except (PolicyEvalError, RegoError) as exc:
            raise PolicyLoadError(policy.source, f"policy does not evaluate: {exc}") from None
        try:
            self._bundle = compiler.build(None, ["/".join(e) for e in sorted(entrypoints)])
        except RegoError as exc:
            raise PolicyLoadError(policy.source, f"cannot compile: {exc}") from None
        if not self._bundle.ok():
            raise PolicyLoadError(policy.source, "cannot compile the policy set")
        self._compiler = compiler
        self.entrypoints = frozenset(entrypoints)
        self._with_input = _new_interpreter()
        self._no_input = _new_interpreter()

    def _fresh_interpreter(self) -> regopy.Interpreter:
        interp = _new_interpreter()
        for name, src in self.policy.modules.items():
            try:
                interp.add_module(name, src)
            except RegoError as exc:
                errors = _sexpr_errors(str(exc))
                if not errors:
                    raise PolicyLoadError(name, str(exc).strip()) from None
                (_, offset, message), *rest = errors
                line, col = _line_col(src, offset) if offset is not None else (None, None)
                more = []
                for _, off, msg in rest:
                    if off is not None:
                        ln, cl = _line_col(src, off)
                        more.append(f"{ln}:{cl}: {msg}")
                    else:
                        more.append(msg)
                raise PolicyLoadError(name, message, line, col, more) from None
        if self.policy.data:
            try:
                interp.add_data_json(json.dumps(self.policy.data, allow_nan=False))
            except (RegoError, ValueError) as exc:
                raise PolicyLoadError(self.policy.source, f"data rejected: {exc}") from None
        return interp

    def evaluate(self, path: str | Sequence[str], input: Any = NO_INPUT) -> Evaluation:
        segments = split_path(path)
        with self._lock:
            result = self._evaluate(segments, input)
        # rego-cpp leaves base documents (data.json) out of a document that also holds
        # rules (e.g. `data` itself); OPA merges them.
        base = _base_document(self.policy.data, segments)
        if base is _ABSENT:
            return result
        if not result.defined:
            return Evaluation(True, base, result.eval_ns, result.input_ns)
        return Evaluation(True, _merge(base, result.value), result.eval_ns, result.input_ns)

    def _evaluate(self, segments: tuple[str, ...], input: Any) -> Evaluation:
        for cut in range(len(segments), 0, -1):
            if segments[:cut] in self.entrypoints:
                result = self._evaluate_entrypoint(segments[:cut], input)
                walked = _walk(result, segments[cut:])
                if walked is not None:
                    return walked
                break
        return self._evaluate_query(segments, input)

    def _evaluate_entrypoint(self, entry: tuple[str, ...], input: Any) -> Evaluation:
        interp = self._no_input if input is NO_INPUT else self._with_input
        t0 = time.perf_counter_ns()
        if input is not NO_INPUT:
            _set_input(interp, input)
        t1 = time.perf_counter_ns()
        try:
            impl = rego_bundle_query_entrypoint(interp._impl, self._bundle._impl, "/".join(entry))
        except RegoError as exc:
            raise PolicyEvalError(str(exc).strip()) from None
        defined, value = _read_output(interp, impl)
        return Evaluation(defined, value, time.perf_counter_ns() - t1, t1 - t0)

    def _evaluate_query(self, segments: tuple[str, ...], input: Any) -> Evaluation:
        interp = self._fresh_interpreter()
        t0 = time.perf_counter_ns()
        if input is not NO_INPUT:
            _set_input(interp, input)
        t1 = time.perf_counter_ns()
        query = "data" + "".join(f"[{json.dumps(s)}]" for s in segments)
        try:
            impl = rego_query(interp._impl, query)
        except RegoError as exc:
            raise PolicyEvalError(str(exc).strip()) from None
        defined, value = _read_output(interp, impl)
        return Evaluation(defined, value, time.perf_counter_ns() - t1, t1 - t0)


def _set_input(interp: regopy.Interpreter, value: Any) -> None:
    try:
        rego_set_input_term(interp._impl, _input_term(value))
    except RegoError as exc:
        raise PolicyEvalError(f"input rejected by the engine: {exc}") from None


_ABSENT: Final = object()


def _base_document(data: Mapping[str, Any], segments: tuple[str, ...]) -> Any:
    value: Any = data
    for seg in segments:
        if not isinstance(value, Mapping) or seg not in value:
            return _ABSENT
        value = value[seg]
    return value


def _merge(base: Any, virtual: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(virtual, Mapping):
        merged = dict(base)
        for key, value in virtual.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return virtual


def _walk(result: Evaluation, rest: tuple[str, ...]) -> Evaluation | None:
    """Descend into an object value; None when only a full query can answer exactly."""
    if not rest or not result.defined:
        return result
    value = result.value
    for seg in rest:
        if not isinstance(value, dict):
            return None  # arrays/sets/scalars: let the real query decide
        if seg not in value:
            return Evaluation(False, None, result.eval_ns, result.input_ns)
        value = value[seg]
    return Evaluation(True, value, result.eval_ns, result.input_ns)
