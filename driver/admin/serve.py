"""The admin listener: the API app under Hypercorn's trio worker, in the
server's own trio loop (so handlers call the ``Control`` directly).

It runs until cancelled: there is no shutdown trigger of its own, the
server's nursery stopping is the shutdown. Loopback by default: the API is
for operators and authors, and anything wider belongs behind a TLS proxy.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from driver.admin.api import build_app
from driver.admin.tokens import TokenStore
from driver.tenancy.control import Control

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4081


def listen_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket on ``host:port`` (``port`` 0: any free one).
    Made here rather than by Hypercorn so that a port in use is one plain
    OSError, raised before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host.strip("[]"), port))
    except BaseException:
        sock.close()
        raise
    return sock


def _config(fd: int) -> Config:
    config = Config()
    config.bind = [f"fd://{fd}"]
    config.accesslog = None  # the server keeps its own log of what matters
    config.errorlog = logging.getLogger("jitrealm.admin.http")
    config.graceful_timeout = 2.0
    config.keep_alive_timeout = 30.0
    config.read_timeout = 60  # a client that stops sending mid-request is dropped
    config.include_server_header = False
    return config


async def serve_admin(
    app: Any,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the ASGI ``app`` on ``host:port`` until cancelled; reports the
    bound port (``port`` 0 picks a free one). An address that cannot be
    bound (in use, not this machine's) raises OSError before anything
    starts."""
    sock = listen_socket(host, port)
    bound: int = sock.getsockname()[1]
    config = _config(sock.detach())  # Hypercorn owns the descriptor from here

    async def forever() -> None:
        await trio.sleep_forever()

    async def run(task_status: trio.TaskStatus[list[str]]) -> None:
        await serve(app, config, shutdown_trigger=forever, task_status=task_status)

    async with trio.open_nursery() as nursery:
        await nursery.start(run)
        task_status.started(bound)


async def run_admin(
    control: Control,
    token_store: TokenStore,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The admin API over ``control`` on ``host:port``, for ``nursery.start``
    (which returns the bound port). Tokens are read from ``token_store``
    (the server's store); call :func:`driver.admin.tokens.ensure_root_token`
    first."""
    await serve_admin(build_app(control, token_store), host, port, task_status=task_status)
