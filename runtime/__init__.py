"""The runtime's public API: what the explorer, the CLI and notebooks use.

    from runtime import PatternRunner
    runner = await PatternRunner("p05").start()

Names load on first use (PEP 562), so importing one of them does not import the rest:
the explorer shows its first frame before the agent's libraries are loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "PatternRunner": "runtime.runner",
    "ClientCredentials": "runtime.connect",
    "client_credentials": "runtime.connect",
    "credential_lines": "runtime.connect",
    "describe_connection": "runtime.connect",
    "expiry_note": "runtime.connect",
    "AUDIENCES": "runtime.pattern_api",
    "TurnResult": "runtime.agent",
    "ToolInvocation": "runtime.agent",
    "DEMO_EPOCH": "runtime.settings",
    "Settings": "runtime.settings",
    "SettingsError": "runtime.settings",
    "StackMode": "runtime.settings",
    "StackHandle": "runtime.stack_handle",
    "StackUnavailable": "runtime.stack_handle",
    "Cell": "runtime.matrix",
    "MatrixResult": "runtime.matrix",
    "MATRIX_VIEWS": "runtime.matrix",
    "MatrixView": "runtime.matrix",
    "VIEW_TITLES": "runtime.matrix",
    "outcome_word": "runtime.matrix",
    "short_audit": "runtime.matrix",
    "view_value": "runtime.matrix",
    "ProgressFn": "runtime.matrix",
    "run_matrix": "runtime.matrix",
    "run_matrix_forked": "runtime.matrix",
    "ScriptWorker": "runtime.script_worker",
    "CellDone": "runtime.script_worker",
    "run_pattern": "runtime.matrix",
    "COLUMN_NAMES": "runtime.contract",
    "Effect": "runtime.contract",
    "effect": "runtime.contract",
    "expected": "runtime.contract",
    "expected_columns": "runtime.contract",
    "STEP_IDS": "runtime.script",
    "STEPS": "runtime.script",
    "StepId": "runtime.script",
    "StepResult": "runtime.script",
    "HOP_KINDS": "runtime.wire",
    "Hop": "runtime.wire",
    "HopLog": "runtime.wire",
    "Redactor": "runtime.wire",
    "WireTap": "runtime.wire",
    "PatternError": "runtime.pattern_loader",
    "PatternInfo": "runtime.pattern_loader",
    "discover": "runtime.pattern_loader",
    "find": "runtime.pattern_loader",
    "load": "runtime.pattern_loader",
    "CODE_FILES": "runtime.pattern_source",
    "SharedCode": "runtime.pattern_source",
    "calls": "runtime.pattern_source",
    "find_shared": "runtime.pattern_source",
    "shared_code": "runtime.pattern_source",
    "unified_diff": "runtime.pattern_source",
    "DecodedToken": "runtime.tokens",
    "TIME_CLAIMS": "runtime.tokens",
    "brief": "runtime.tokens",
    "claims_diff": "runtime.tokens",
    "decode_unverified": "runtime.tokens",
    "find_tokens": "runtime.tokens",
    "printable": "runtime.tokens",
    "hop_to_dict": "runtime.export",
    "is_http": "runtime.export",
    "to_curl": "runtime.export",
    "to_har": "runtime.export",
    "to_jsonl": "runtime.export",
    "LoginCache": "runtime.login",
    "USERS": "runtime.services.world",
    "KeySource": "runtime.services.world",
    "World": "runtime.services.world",
    "InputError": "runtime.errors",
    "RunnerError": "runtime.errors",
    "json_object": "runtime.errors",
    "Decision": "runtime.identity",
    "Identity": "runtime.identity",
    "ToolSchema": "runtime.runner",
    "Comparison": "runtime.compare",
    "Row": "runtime.compare",
    "compare_with": "runtime.compare",
    "decision_of": "runtime.compare",
    "HttpRequest": "runtime.replay",
    "ReplayError": "runtime.replay",
    "ReplayResult": "runtime.replay",
    "SIGN_CHOICES": "runtime.signing",
    "ORACLE_SIGNS": "runtime.signing",
    "SignWith": "runtime.signing",
    "Signer": "runtime.replay",
    "TokenEdit": "runtime.replay",
    "edit_token": "runtime.replay",
    "parse_headers": "runtime.replay",
    "headers_text": "runtime.replay",
    "edit_from_json": "runtime.replay",
    "parse_value": "runtime.replay",
    "retarget": "runtime.replay",
    "located_tokens": "runtime.tokens",
    "CHALLENGES": "runtime.challenges",
    "Challenge": "runtime.challenges",
    "Evidence": "runtime.challenges",
    "Progress": "runtime.challenges",
    "ProgressError": "runtime.challenges",
    "detect": "runtime.challenges",
    "progress_path": "runtime.challenges",
    "BY_ID": "runtime.challenges",
    "judge": "runtime.challenges",
    "ExplorerError": "stack.errors",
    "new_event_loop": "runtime.event_loop",
    "load_sdk": "runtime.model_endpoint",
    "pause_collector": "runtime.heap",
    "settle_heap": "runtime.heap",
}

__all__ = [
    "AUDIENCES",
    "BY_ID",
    "CHALLENGES",
    "CODE_FILES",
    "COLUMN_NAMES",
    "Cell",
    "Challenge",
    "ClientCredentials",
    "Comparison",
    "DEMO_EPOCH",
    "Decision",
    "DecodedToken",
    "Evidence",
    "Effect",
    "ExplorerError",
    "HOP_KINDS",
    "Hop",
    "HopLog",
    "HttpRequest",
    "Identity",
    "InputError",
    "KeySource",
    "LoginCache",
    "MATRIX_VIEWS",
    "MatrixResult",
    "ORACLE_SIGNS",
    "MatrixView",
    "PatternError",
    "PatternInfo",
    "PatternRunner",
    "Progress",
    "ProgressError",
    "ProgressFn",
    "Redactor",
    "ReplayError",
    "ReplayResult",
    "Row",
    "RunnerError",
    "SIGN_CHOICES",
    "STEPS",
    "STEP_IDS",
    "Settings",
    "SettingsError",
    "SharedCode",
    "SignWith",
    "Signer",
    "StackHandle",
    "StackMode",
    "StackUnavailable",
    "StepId",
    "StepResult",
    "TIME_CLAIMS",
    "TokenEdit",
    "ToolInvocation",
    "ToolSchema",
    "TurnResult",
    "USERS",
    "VIEW_TITLES",
    "WireTap",
    "World",
    "brief",
    "calls",
    "claims_diff",
    "client_credentials",
    "compare_with",
    "credential_lines",
    "decision_of",
    "decode_unverified",
    "describe_connection",
    "detect",
    "discover",
    "edit_from_json",
    "edit_token",
    "expiry_note",
    "effect",
    "expected",
    "expected_columns",
    "find",
    "find_shared",
    "find_tokens",
    "headers_text",
    "hop_to_dict",
    "judge",
    "load",
    "located_tokens",
    "new_event_loop",
    "load_sdk",
    "pause_collector",
    "settle_heap",
    "parse_headers",
    "parse_value",
    "is_http",
    "json_object",
    "outcome_word",
    "printable",
    "progress_path",
    "retarget",
    "run_matrix",
    "run_matrix_forked",
    "ScriptWorker",
    "CellDone",
    "run_pattern",
    "shared_code",
    "short_audit",
    "to_curl",
    "to_har",
    "to_jsonl",
    "unified_diff",
    "view_value",
]

if TYPE_CHECKING:
    from runtime.agent import ToolInvocation, TurnResult
    from runtime.challenges import (
        BY_ID,
        CHALLENGES,
        Challenge,
        Evidence,
        Progress,
        ProgressError,
        detect,
        judge,
        progress_path,
    )
    from runtime.compare import Comparison, Row, compare_with, decision_of
    from runtime.connect import (
        ClientCredentials,
        client_credentials,
        credential_lines,
        describe_connection,
        expiry_note,
    )
    from runtime.contract import COLUMN_NAMES, Effect, effect, expected, expected_columns
    from runtime.errors import InputError, RunnerError, json_object
    from runtime.event_loop import new_event_loop
    from runtime.export import hop_to_dict, is_http, to_curl, to_har, to_jsonl
    from runtime.heap import pause_collector, settle_heap
    from runtime.identity import Decision, Identity
    from runtime.login import LoginCache
    from runtime.matrix import (
        MATRIX_VIEWS,
        VIEW_TITLES,
        Cell,
        MatrixResult,
        MatrixView,
        ProgressFn,
        outcome_word,
        run_matrix,
        run_matrix_forked,
        run_pattern,
        short_audit,
        view_value,
    )
    from runtime.model_endpoint import load_sdk
    from runtime.pattern_api import AUDIENCES
    from runtime.pattern_loader import PatternError, PatternInfo, discover, find, load
    from runtime.pattern_source import (
        CODE_FILES,
        SharedCode,
        calls,
        find_shared,
        shared_code,
        unified_diff,
    )
    from runtime.replay import (
        HttpRequest,
        ReplayError,
        ReplayResult,
        Signer,
        TokenEdit,
        edit_from_json,
        edit_token,
        headers_text,
        parse_headers,
        parse_value,
        retarget,
    )
    from runtime.runner import PatternRunner, ToolSchema
    from runtime.script import STEP_IDS, STEPS, StepId, StepResult
    from runtime.script_worker import CellDone, ScriptWorker
    from runtime.services.world import USERS, KeySource, World
    from runtime.settings import DEMO_EPOCH, Settings, SettingsError, StackMode
    from runtime.signing import ORACLE_SIGNS, SIGN_CHOICES, SignWith
    from runtime.stack_handle import StackHandle, StackUnavailable
    from runtime.tokens import (
        TIME_CLAIMS,
        DecodedToken,
        brief,
        claims_diff,
        decode_unverified,
        find_tokens,
        located_tokens,
        printable,
    )
    from runtime.wire import HOP_KINDS, Hop, HopLog, Redactor, WireTap
    from stack.errors import ExplorerError


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
