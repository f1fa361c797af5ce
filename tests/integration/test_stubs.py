"""`jitrealm stubs`: the generated TypeScript type-checks (with tsc, from npm) and
refuses wrong events and payloads; the generated Python client type-checks the same
way (mypy) and plays a live room."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import trio
from trio_websocket import connect_websocket

from driver.cli import main as jitrealm
from driver.server import serve

from ..driver_support import BASIC_WORLD, ROOT, build, copy_world, make_realm

QUIZ = ROOT / "world-src" / "rooms" / "quiz.json"
TYPESCRIPT = "typescript@5.6"

TS_USAGE = """
import { RoomClient, SocketLike, RoomState } from "./quiz";
declare const socket: SocketLike;
const client = new RoomClient(socket);
client.join({ blueprint: "/rooms/quiz" });
client.send("start", {});
client.send("answer", { choice: 2 });
const stop = client.onMessage("room.patch", (patch) => { const seq: number = patch.seq; void seq; });
stop();
const state: RoomState | null = client.state;
const score: number | undefined = state?.players["/player/ann"]?.score;
void score;
// @ts-expect-error: the bundle has no such event
client.send("teleport", {});
// @ts-expect-error: a choice is a number
client.send("answer", { choice: "2" });
// @ts-expect-error: a choice is required
client.send("answer", {});
// @ts-expect-error: no such server message
client.onMessage("room.nope", () => {});
"""

PY_USAGE = """
from quiz_client import RoomClient

async def use(client: RoomClient) -> None:
    await client.send("start", {})
    await client.send("answer", {"choice": 2})
    await client.send("teleport", {})  # type: ignore[call-overload]
    await client.send("answer", {"choice": "2"})  # type: ignore[call-overload]
"""


@pytest.fixture(scope="module")
def tsc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed (Node.js)")
    where = tmp_path_factory.mktemp("typescript")
    done = subprocess.run([npm, "install", "--prefix", str(where), "--no-audit", "--no-fund", TYPESCRIPT],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return where / "node_modules" / ".bin" / "tsc"


def test_typescript_stub_type_checks(tsc: Path, tmp_path: Path) -> None:
    assert jitrealm(["stubs", str(QUIZ), "--lang", "ts", "-o", str(tmp_path / "quiz.ts")]) == 0
    (tmp_path / "usage.ts").write_text(TS_USAGE)
    done = subprocess.run(
        [str(tsc), "--strict", "--noEmit", "--target", "es2020", "--lib", "es2020", "--module", "commonjs",
         str(tmp_path / "usage.ts"), str(tmp_path / "quiz.ts")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_python_stub_type_checks(tmp_path: Path) -> None:
    assert jitrealm(["stubs", str(QUIZ), "--lang", "py", "-o", str(tmp_path / "quiz_client.py")]) == 0
    (tmp_path / "usage.py").write_text(PY_USAGE)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--warn-unused-ignores", "--no-incremental",
         str(tmp_path / "quiz_client.py"), str(tmp_path / "usage.py")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_bad_bundle_gets_no_stub(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = json.loads(QUIZ.read_text())
    bad["commands"]["answer"]["event"] = "reply"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert jitrealm(["stubs", str(tmp_path / "bad.json"), "--lang", "py"]) == 1
    assert "$.commands.answer.event: no event 'reply' in $.events" in capsys.readouterr().err


async def test_python_stub_plays_a_live_room(sandbox, tmp_path: Path) -> None:
    stub = tmp_path / "quiz_client.py"
    assert jitrealm(["stubs", str(QUIZ), "--lang", "py", "-o", str(stub)]) == 0
    spec = importlib.util.spec_from_file_location("quiz_client", stub)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    world = copy_world(BASIC_WORLD, tmp_path / "world")
    (world / "rooms" / "quiz.json").write_bytes(QUIZ.read_bytes())
    out = tmp_path / "build"
    build(world, out)
    realm = await make_realm(sandbox, world, out)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            _, port = await nursery.start(partial(serve, realm, ("127.0.0.1", 0), ("127.0.0.1", 0)))
            ws = await connect_websocket(nursery, "127.0.0.1", port, "/ws", use_ssl=False, subprotocols=["json.jitrealm"])
            client = module.RoomClient(ws)
            patches: list[int] = []
            client.on_message("room.patch", lambda payload: patches.append(payload["seq"]))
            await client.line("create zed secret99")
            while "Obvious exits" not in client.text:
                await client.receive()
            await client.join(blueprint="/rooms/quiz")
            while client.state is None:
                await client.receive()
            joined_at = client.seq  # patches go on from the snapshot's number
            await client.send("start", {})
            while client.state["phase"] != "question":
                await client.receive()
            await client.send("answer", {"choice": 1})
            while client.state["players"]["/player/zed"]["score"] != 10:
                await client.receive()
            assert client.state["stepIndex"] == 1
            assert patches == list(range(joined_at + 1, joined_at + 1 + len(patches)))
            await ws.aclose()
            nursery.cancel_scope.cancel()
