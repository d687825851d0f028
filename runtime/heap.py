"""The garbage collector in a process that loads a large heap and keeps nearly all of it.

The explorer's modules (the SDKs' hundreds of pydantic models, FastAPI, Textual) are ~1 s of
imports whose objects live to the end. CPython's collector scanned them again and again:
while the imports built them (~20 % of the imports' time), in every full collection after
(~0.3 s per matrix worker), and once more in the interpreter's exit (~0.3-0.4 s). So the
`agent-auth` entry point pauses collection, and the command (or the explorer, once ready)
settles the heap when its modules are loaded: what exists then is frozen, never scanned
again (nor copied into a forked worker's pages, as the gc module's documentation advises
before a fork), and collection resumes for what comes after. docs/performance.md has the
measurements.
"""

from __future__ import annotations

import atexit
import gc


def pause_collector() -> None:
    """At the process's start: no collection until `settle_heap`; at exit the heap is frozen
    first, so the interpreter's teardown skips its last full collections (atexit handlers
    run before that teardown, and every other handler still runs)."""
    gc.disable()
    atexit.register(gc.freeze)


def settle_heap() -> None:
    """The heavy modules are loaded: if `pause_collector` held the collector, freeze what
    was built and collect as usual from here on. A process that never paused it (a test, a
    notebook) is left as it is."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
