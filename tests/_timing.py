"""Where the suite's time goes: per-test and per-module sums, printed at the end of a run.

A test's time is its setup, call and teardown together, so a session or package fixture's
start-up (a Spark cluster, HDFS, YARN, a packed archive) counts in the first test that asks for
it and its stop in the last: summed per module, those land where the service is used.
``scripts/test.sh`` passes the install's own seconds in ``ZOO_TUNE_INSTALL_S``. With
``ZOO_TUNE_TEST_TIMINGS=path`` the same numbers are written there as JSON (for README's table).
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict

_TESTS: dict[str, float] = defaultdict(float)
_START = {"t": time.monotonic()}


def session_started() -> None:
    _START["t"] = time.monotonic()


def record(report) -> None:
    """Add one phase of one test (pytest's ``TestReport``)."""
    _TESTS[report.nodeid] += report.duration


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def summary(slowest: int = 20) -> dict:
    """The run's numbers: total, per module (descending), the slowest tests."""
    modules: dict[str, list] = defaultdict(lambda: [0.0, 0])
    for nodeid, seconds in _TESTS.items():
        modules[module_of(nodeid)][0] += seconds
        modules[module_of(nodeid)][1] += 1
    install = os.environ.get("ZOO_TUNE_INSTALL_S")
    return {
        "total_s": round(time.monotonic() - _START["t"], 1),
        "install_s": float(install) if install else None,
        "tests": len(_TESTS),
        "modules": [{"module": m, "s": round(s, 1), "tests": n}
                    for m, (s, n) in sorted(modules.items(), key=lambda kv: -kv[1][0])],
        "slowest": [{"test": t, "s": round(s, 1)}
                    for t, s in sorted(_TESTS.items(), key=lambda kv: -kv[1])[:slowest]],
    }


def write_report(write_line, extra: str) -> None:
    """Print the tables and the one end-of-run line through ``write_line``."""
    numbers = summary()
    if not numbers["tests"]:  # --collect-only, or nothing selected
        return
    write_line("time per module (setup + call + teardown, seconds, tests):")
    for row in numbers["modules"]:
        write_line(f"  {row['s']:8.1f}  {row['tests']:4d}  {row['module']}")
    write_line("slowest tests (seconds):")
    for row in numbers["slowest"]:
        write_line(f"  {row['s']:8.1f}  {row['test']}")
    top = ", ".join(f"{r['test'].rsplit('/', 1)[-1]} {r['s']:.0f}s"
                    for r in numbers["slowest"][:3])
    install = numbers["install_s"]
    write_line(f"zoo_tune suite: {numbers['tests']} tests in {numbers['total_s'] / 60:.1f} min"
               + (f" (+ install {install / 60:.1f} min)" if install is not None else "")
               + f"; slowest: {top}; {extra}")
    path = os.environ.get("ZOO_TUNE_TEST_TIMINGS")
    if path:
        with open(path, "w") as f:
            json.dump(numbers, f, indent=1)
