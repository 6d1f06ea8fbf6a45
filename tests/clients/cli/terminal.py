"""``medledger`` in a real terminal of a given width (a pseudo-terminal), as a person sees it.

Tables are fitted to the terminal, and only a terminal has a width: in-process runs and pipes
get 240 columns. This runs the installed console script on a pty whose window size is set,
so rich measures it exactly as it would in a person's 80-column terminal.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from rich.cells import cell_len

MEDLEDGER = Path(sys.executable).with_name("medledger")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_terminal(
    args: list[str], *, env: dict[str, str], columns: int = 80, timeout: float = 120.0
) -> tuple[int, str]:
    """Exit code and everything the terminal showed (stdout and stderr, colours off)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 60, columns, 0, 0))
    child_env = {**os.environ, **env, "NO_COLOR": "1", "TERM": "xterm"}
    child_env.pop("COLUMNS", None)
    child_env.pop("LINES", None)
    proc = subprocess.Popen(
        [str(MEDLEDGER), *args], stdin=slave, stdout=slave, stderr=slave, env=child_env
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"medledger {' '.join(args)} did not finish")
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return code, ANSI.sub("", text)  # styles (bold, italic) are not part of the width


def widest_line(text: str) -> int:
    """The widest line in terminal cells (CJK characters take two)."""
    return max((cell_len(line) for line in text.splitlines()), default=0)
