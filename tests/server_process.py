"""The real ``jitrealm run`` in a child process, for tests of what only a
whole server shows: how it stops (a signal, as systemd or Ctrl-C sends
it) and what it is like after a restart.

:class:`ServerProcess` starts the command on free ports (or on given ones,
to come back where it was), waits (bounded) for its "is up" line, and stops
it with a signal. Everything it prints is kept in :attr:`ServerProcess.log`.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_UP = re.compile(r"is up: telnet \S+?:(\d+), browser http://\S+?:(\d+)/")
_ADMIN = re.compile(r"admin API http://\S+?:(\d+)/api/v1/")
#: The admin API's root token every test server starts with.
ROOT_TOKEN = "jr_test-root-token-0123456789"


class ServerProcess:
    """``jitrealm run`` over ``world`` (built in ``build``), data in ``data``."""

    def __init__(self, world: Path, build: Path, data: Path, *, admin_password: str = "wizardly99") -> None:
        self.world, self.build, self.data = world, build, data
        self.admin_password = admin_password
        self.telnet_port = 0
        self.http_port = 0
        self.admin_port = 0
        self.log = ""
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> tuple[int, int]:
        """Start (again, on the same ports once they are known); return the
        (telnet, http) ports once the server says it is up."""
        argv = [
            sys.executable, "-m", "driver.cli", "run",
            "--world", str(self.world), "--build", str(self.build), "--data", str(self.data),
            "--sandbox", "inproc",
            "--telnet", f"127.0.0.1:{self.telnet_port}", "--http", f"127.0.0.1:{self.http_port}",
            "--admin", f"127.0.0.1:{self.admin_port}",
        ]  # fmt: skip
        env = dict(
            os.environ, JITREALM_ADMIN_PASSWORD=self.admin_password, JITREALM_ROOT_TOKEN=ROOT_TOKEN,
            PYTHONUNBUFFERED="1",
        )  # fmt: skip
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        since = len(self.log)  # this start's line, not an earlier one's
        while time.monotonic() < deadline:
            found = _UP.search(self.log, since)
            if found:
                self.telnet_port, self.http_port = int(found.group(1)), int(found.group(2))
                admin = _ADMIN.search(self.log, since)
                self.admin_port = int(admin.group(1)) if admin else 0
                return self.telnet_port, self.http_port
            if not self._read(deadline) and self.proc.poll() is not None:
                break
        self.kill()
        raise AssertionError(f"the server did not come up; it said:\n{self.log[-3000:]}")

    def _read(self, deadline: float) -> bool:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, min(0.2, deadline - time.monotonic())))
        if not ready:
            return True
        chunk = os.read(self.proc.stdout.fileno(), 65536)
        self.log += chunk.decode("utf-8", "replace")
        return bool(chunk)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` and wait (bounded) for the process to exit; its status."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(deadline)
        if self.proc.poll() is None:
            self.kill()
            raise AssertionError(f"the server did not stop within {timeout}s:\n{self.log[-3000:]}")
        assert self.proc.stdout is not None
        self.log += self.proc.stdout.read().decode("utf-8", "replace")
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
