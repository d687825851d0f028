"""The battery, one test per attack x pattern, driven by the same catalogue as the CLI.

DENY where the pattern claims protection, ALLOW where it does not (the teaching matrix);
an attack that crashes or meets a 500 is ERROR and fails its test.
"""

from __future__ import annotations

import argparse
import json
import re

import pytest

from runtime.battery import (
    CATALOGUE,
    BatteryResult,
    add_arguments,
    by_id,
    cli_main,
    render,
    run_battery,
    select,
)
from runtime.battery.core import PATTERNS_03_10 as BATTERY_PATTERNS
from runtime.battery.core import Attack, Outcome
from runtime.contract import expected as matrix_expected
from runtime.errors import InputError
from runtime.settings import Settings

CASES = [(a.id, p) for a in CATALOGUE for p in BATTERY_PATTERNS if a.applies(p)]


@pytest.mark.parametrize(("attack_id", "pattern"), CASES, ids=[f"{a}-{p}" for a, p in CASES])
def test_attack(battery: BatteryResult, attack_id: str, pattern: str) -> None:
    cell = battery.cell(attack_id, pattern)
    assert cell is not None, f"{attack_id} did not run under {pattern}"
    assert cell.actual == cell.expected, (
        f"{attack_id} under {pattern}: expected {cell.expected}, got {cell.actual} "
        f"(HTTP {cell.status}): {cell.detail}")


def test_every_attack_applies_to_a_token_pattern_and_ids_are_unique() -> None:
    ids = [a.id for a in CATALOGUE]
    assert len(ids) == len(set(ids))
    for attack in CATALOGUE:
        assert set(attack.patterns) & {"p05", "p06", "p07", "p08", "p09", "p10"}, attack.id
        assert attack.unprotected <= set(attack.patterns), attack.id
    families = {a.family for a in CATALOGUE}
    assert families == {"control", "JWT", "OAuth", "DPoP", "Injection", "Hardening", "MCP",
                        "Delegation"}


@pytest.mark.parametrize(("attack_id", "step"), [
    ("dpop.token-replay", "A7"), ("dpop.token-and-proof-replay", "A7"),
    ("oauth.aud-replay.records-to-directory", "A5"), ("jwt.replay-after-expiry", "A4"),
    ("jwt.no-credential", "A1"), ("oauth.agency.self-approval", "A6"),
    ("oauth.agency.disable-user", "A6"), ("inject.canary", "A3"),
])
def test_expectations_agree_with_the_teaching_matrix(attack_id: str, step: str) -> None:
    attack = by_id(attack_id)
    for pattern in attack.patterns:
        assert attack.expected(pattern) == matrix_expected(step, int(pattern[1:])), (
            attack_id, pattern)  # type: ignore[arg-type]


def test_replaying_a_bearer_token_is_allow_under_05_to_07_and_deny_under_08(
        battery: BatteryResult) -> None:
    row = [battery.cell("dpop.token-replay", p).actual  # type: ignore[union-attr]
           for p in ("p05", "p06", "p07", "p08")]
    assert row == ["ALLOW", "ALLOW", "ALLOW", "DENY"]


def test_the_controls_prove_the_harness_can_get_through(battery: BatteryResult) -> None:
    for pattern in ("p05", "p06", "p07", "p08"):
        for control in ("control.legit", "control.oracle"):
            cell = battery.cell(control, pattern)
            assert cell is not None and cell.actual == "ALLOW" and cell.status == 200


def test_jku_x5u_and_shell_kid_never_reach_the_attacker(battery: BatteryResult) -> None:
    for attack in ("jwt.jku", "jwt.x5u", "jwt.kid.shell"):
        for pattern in ("p05", "p06", "p07", "p08"):
            cell = battery.cell(attack, pattern)
            assert cell is not None and cell.actual == "DENY"
            assert "attacker" not in cell.detail or "hits: 0" in cell.detail, cell.detail


@pytest.mark.parametrize("client", ["agent", "mcp-server", "summarizer"])
def test_a_service_account_is_refused_as_a_user_by_the_person_check(
        battery: BatteryResult, client: str) -> None:
    for pattern in ("p05", "p06", "p07", "p08", "p09", "p10"):
        cell = battery.cell(f"hardening.service-account.subject-{client}", pattern)
        assert cell is not None and cell.status == 401, (pattern, cell)
        assert f"(service-account-{client}) is not a person" in cell.detail, cell.detail


def test_oversized_tokens_are_refused_for_size_before_decoding(battery: BatteryResult) -> None:
    for pattern in ("p05", "p06", "p07", "p08"):
        cell = battery.cell("jwt.oversized-token", pattern)
        assert cell is not None and cell.status == 401 and "too large" in cell.detail


def test_render_shows_the_attack_by_pattern_table(battery: BatteryResult) -> None:
    text = render(battery)
    header = text.splitlines()[0]
    for pattern in BATTERY_PATTERNS:
        assert pattern in header
    assert "[JWT]" in text and "[DPoP]" in text and "[OAuth]" in text
    line = next(x for x in text.splitlines() if x.startswith("dpop.token-replay "))
    assert line.split()[-6:] == ["ALLOW", "ALLOW", "ALLOW", "DENY", "DENY", "DENY"]
    assert "0 differ from expected" in text
    print(text)


async def test_a_cell_that_differs_is_marked_and_fails_the_cli(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    async def always(arena: object) -> Outcome:
        return Outcome(True, 200, "planted")

    planted = Attack("zz.planted", "control", "an attack that always gets through", always,
                     patterns=("p05",))
    result = await run_battery(Settings(), patterns=("p05",), attacks=[planted])
    assert not result.ok and result.mismatches[0].actual == "ALLOW"
    assert "ALLOW!" in render(result)

    import runtime.battery.run as battery_run

    monkeypatch.setattr(battery_run, "CATALOGUE", (planted,))
    code = await _in_thread(lambda: cli_main(["--json", "--patterns", "p05"], Settings()))
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["cells"][0]["actual"] == "ALLOW"


async def test_cli_json_for_a_family_exits_0_when_all_cells_match(
        capsys: pytest.CaptureFixture[str]) -> None:
    parser = add_arguments(argparse.ArgumentParser())   # as the lead's subcommand wires it
    args = parser.parse_args(["--json", "--patterns", "p08", "--attack", "dpop.htu",
                              "dpop.iat"])
    code = await _in_thread(lambda: cli_main(args, Settings()))
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["ok"] is True
    assert {c["attack"] for c in data["cells"]} == {a.id for a in select(["dpop.htu",
                                                                            "dpop.iat"])}
    assert all(c["actual"] == "DENY" and c["pattern"] == "p08" for c in data["cells"])


@pytest.mark.parametrize(("args", "says"), [
    (["--family", "jwt", "dpoop"], "no attack family 'dpoop' (families: control, Delegation"),
    (["--attack", "jwt.none"], "no attack has an id starting with 'jwt.none' (the ids start "
                               "with chain., control., dpop."),
    (["--family", "DPoP", "--attack", "jwt."], "no attack in those families has an id"),
    (["--patterns", "p02", "--attack", "jwt.alg-none"],
     "none of the 4 attacks chosen applies to p02: nothing was tried"),
])
async def test_a_selection_that_names_nothing_is_an_error_not_an_empty_pass(args, says):
    """A typo in a family or an id must not run zero cells and exit 0 as if all held."""
    with pytest.raises(InputError, match=re.escape(says)):
        await _in_thread(lambda: cli_main(args, Settings()))


def test_the_help_names_every_family_and_the_default_patterns() -> None:
    text = add_arguments(argparse.ArgumentParser()).format_help().replace("\n", " ")
    text = " ".join(text.split())
    assert all(family in text for family in {a.family for a in CATALOGUE})
    assert "default p05 p06 p07 p08 p09 p10" in text


async def _in_thread(fn):  # type: ignore[no-untyped-def]
    """cli_main runs its own event loop (asyncio.run): call it off this test's loop."""
    import asyncio

    return await asyncio.to_thread(fn)
