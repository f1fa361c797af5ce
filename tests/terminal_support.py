"""Running a terminal program (TinTin++) in a pseudo-terminal, for tests."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import struct
import subprocess
import termios
import time


def find_tintin() -> str | None:
    """Where TinTin++ is installed (Debian puts ``tt++`` in /usr/games), or None."""
    return shutil.which("tt++") or next(
        (p for p in ("/usr/games/tt++", "/usr/bin/tt++") if os.access(p, os.X_OK)), None
    )


def run_in_pty(
    argv: list[str],
    timeout: float,
    env: dict[str, str],
    *,
    size: tuple[int, int] = (100, 30),
    grace: float = 0.0,
) -> tuple[bytes, int | None]:
    """Run a terminal program in a pseudo-terminal of ``size`` (columns, rows;
    TinTin++ needs one with a window size); return what it drew and its exit
    status (None: it was killed).

    Output is read until the program closes the terminal, exits, or
    ``timeout`` passes. Then it has ``grace`` seconds more (never past the
    deadline) to exit on its own before it is killed."""
    cols, rows = size
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
    )
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + timeout
    status: int | None = None
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            elif proc.poll() is not None:
                break
    finally:
        try:
            status = proc.wait(timeout=max(0.0, min(grace, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(master)
    return bytes(output), status
