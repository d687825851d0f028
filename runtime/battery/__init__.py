"""The security battery: named attacks x patterns 05-10, run against the real runtime.

    from runtime.battery import run_battery, render
    result = await run_battery(settings)        # BatteryResult
    print(render(result))

`cli_main(args, settings)` backs `agent-auth battery [--json]` (exit 1 when any cell differs
from what the pattern claims). tests/security drives the same CATALOGUE.
"""

from runtime.battery.catalogue import CATALOGUE, by_id
from runtime.battery.core import Arena, Attack, Credential, Kit, Outcome, Skip
from runtime.battery.run import (
    DEFAULT_PATTERNS,
    BatteryCell,
    BatteryResult,
    add_arguments,
    cli_main,
    make_kit,
    render,
    run_attack,
    run_battery,
    select,
)

__all__ = [
    "CATALOGUE",
    "DEFAULT_PATTERNS",
    "Arena",
    "Attack",
    "BatteryCell",
    "BatteryResult",
    "Credential",
    "Kit",
    "Outcome",
    "Skip",
    "add_arguments",
    "by_id",
    "cli_main",
    "make_kit",
    "render",
    "run_attack",
    "run_battery",
    "select",
]
