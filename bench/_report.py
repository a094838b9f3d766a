"""The end of every benchmark: each budget PASS or FAIL, the time taken, and the exit status."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path


def verdicts(checks: Sequence[tuple[str, bool]], *, logs: Path, started: float) -> int:
    """Prints each budget's verdict; keeps the servers' logs only when one failed (they say
    why); 0 when every budget is met, else 1."""
    for name, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    passed = all(ok for _, ok in checks)
    if passed:
        shutil.rmtree(logs, ignore_errors=True)
    print(
        f"  ({time.monotonic() - started:.0f} s in all"
        + ("" if passed else f"; logs in {logs}")
        + ")"
    )
    return 0 if passed else 1
