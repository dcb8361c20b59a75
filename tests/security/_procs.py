"""Helpers of the security tests: run scripts/kdc.sh and scripts/hdfs.sh, find their daemons."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
KDC = SCRIPTS / "kdc.sh"
HDFS = SCRIPTS / "hdfs.sh"


def script(path: Path, *args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a script with bash; its output as text."""
    return subprocess.run(["bash", str(path), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def last_line(proc: subprocess.CompletedProcess) -> str:
    """The last line of stdout, after checking the script succeeded."""
    assert proc.returncode == 0, (
        f"rc {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout.strip().splitlines()[-1]


def live_pids_mentioning(text: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            found.append(int(entry.name))
    return found


def assert_none_left(text: str, timeout: float = 10.0) -> None:
    """No live process mentions ``text`` (waits a little for exiting ones)."""
    deadline = time.monotonic() + timeout
    while (left := live_pids_mentioning(text)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes left mentioning {text}: {left}"
