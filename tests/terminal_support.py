"""Running a terminal program (TinTin++) in a pseudo-terminal, for tests."""

from __future__ import annotations

import fcntl
import os
import pty
import re
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


class Terminal:
    """A terminal program driven as a person at the keyboard would: it runs
    in a pseudo-terminal, keys are typed into it one at a time, and the test
    waits (bounded) for text to appear on its screen.

    ``raw`` is every byte the program drew; :meth:`text` the same with
    escape sequences removed. Use as a context manager: the program is
    killed on exit if it is still running.
    """

    def __init__(self, argv: list[str], env: dict[str, str], *, size: tuple[int, int] = (100, 30)) -> None:
        cols, rows = size
        self._master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.raw = bytearray()
        self._mark = 0  # where the next expect starts looking, in text()

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def text(self) -> str:
        """What the program drew, escape sequences and CRs removed."""
        plain = _ESCAPES.sub(b"", bytes(self.raw)).replace(b"\r", b"")
        return plain.decode("utf-8", "replace")

    def _read(self, until: float) -> bool:
        """Read what is there (waiting at most until ``until``); False at EOF."""
        ready, _, _ = select.select([self._master], [], [], max(0.0, min(0.1, until - time.monotonic())))
        if not ready:
            return True
        try:
            chunk = os.read(self._master, 65536)
        except OSError:  # the program closed the terminal
            return False
        self.raw += chunk
        return bool(chunk)

    def expect(self, needle: str, timeout: float = 10.0) -> str:
        """Wait until ``needle`` is on the screen after what earlier expects
        consumed; return the screen text up to and including it."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            found = text.find(needle, self._mark)
            if found >= 0:
                start, self._mark = self._mark, found + len(needle)
                return text[start : self._mark]
            if time.monotonic() >= deadline or not self._read(deadline):
                raise AssertionError(f"{needle!r} never appeared; the screen ends {text[-800:]!r}")

    def type(self, line: str, *, per_key: float = 0.01) -> None:
        """Type ``line`` key by key, then Enter."""
        for ch in line:
            os.write(self._master, ch.encode("utf-8"))
            time.sleep(per_key)
        os.write(self._master, b"\r")

    def settle(self, quiet: float = 0.3, timeout: float = 5.0) -> None:
        """Read until the program has drawn nothing for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = len(self.raw)
            end = min(deadline, time.monotonic() + quiet)
            while time.monotonic() < end:
                if not self._read(end):
                    return
            if len(self.raw) == before:
                return

    def close(self, grace: float = 2.0) -> int | None:
        """Let the program exit on its own for ``grace`` seconds, else kill it;
        its exit status (None: killed)."""
        status: int | None
        try:
            status = self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            status = None
        try:
            os.close(self._master)
        except OSError:
            pass
        return status


_ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[=>]")
