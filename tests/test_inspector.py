"""rc-mcp driven by clients we did not write, under Node: the MCP Inspector's CLI, and the TypeScript
SDK's Client that most hosts are built on, over stdio and over streamable HTTP, against the emulator.

The Inspector CLI makes one request per run (Node start, rc-mcp start, one request), as a person
probing rc-mcp does; it prints the result as JSON and exits 0 even when a tool answers with
``isError: true``, so every check reads the JSON. A host instead keeps one session open for many
requests: ``tests/ts_client.mjs`` does that with the SDK the Inspector brings along, so the tools
are called in one rc-mcp process and their structured content is checked against the output schemas.

0.15.0 is pinned: later releases need Node 22, and on Node 20 plain ``npx`` would pick 0.15.0 anyway.
The first run downloads it (about 25 s), once per session; without ``node``/``npx`` these tests are
skipped. rc-mcp's local history always goes to a temporary directory, never the user's."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import pytest

from rc_mcp.emulator.seed import DEMO_START
from rc_mcp.testing import EmulatorSession, demo_emulator
from tests.conftest import rc_mcp_over_http

PACKAGE = "@modelcontextprotocol/inspector@0.15.0"
TOOLS = ["list_rooms", "catch_up", "sync_messages", "list_deleted", "search_history"]
DOWNLOAD_TIMEOUT = 300  # seconds: the first npx run fetches the package from the npm registry
CALL_TIMEOUT = 120  # seconds: one Inspector run (Node start, rc-mcp start, one request) takes 2-3 s

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npx") is None,
    reason="the MCP Inspector CLI needs Node.js: node and npx are not on PATH",
)


def base_env() -> dict[str, str]:
    """This process's environment without any Rocket.Chat settings (npx needs PATH and HOME)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ROCKETCHAT_")}


@pytest.fixture(scope="session")
def inspector() -> list[str]:
    """The Inspector CLI command, downloaded once per session.

    npx resolves the package on every run (about 0.4 s); the test calls run the ``mcp-inspector``
    script npx installed, the same file ``npx @modelcontextprotocol/inspector`` executes."""
    try:
        done = subprocess.run(
            ["npx", "-y", "-p", PACKAGE, "-c", "command -v mcp-inspector"],
            env=base_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"npx did not fetch the MCP Inspector within {DOWNLOAD_TIMEOUT} s")
    script = done.stdout.strip().rpartition("\n")[2]  # the last line, whatever npm printed before it
    assert done.returncode == 0 and script, f"npx could not install the MCP Inspector:\n{done.stdout}\n{done.stderr}"
    return ["node", script, "--cli"]


def rc_mcp_command() -> list[str]:
    """The installed ``rc-mcp`` console script, as an MCP host would start it."""
    script = Path(sys.executable).with_name("rc-mcp")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rc_mcp"]


def run(inspector: list[str], target: list[str], *method: str, env: dict[str, str] | None = None) -> Any:
    """One Inspector CLI run; returns its JSON answer."""
    server_env = [arg for key, value in (env or {}).items() for arg in ("-e", f"{key}={value}")]
    done = subprocess.run(
        [*inspector, *server_env, *target, *method],
        env={**base_env(), **(env or {})}, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=CALL_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, f"inspector exit {done.returncode}:\n{done.stdout}\n{done.stderr}"
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"the Inspector printed no JSON:\n{done.stdout}\n{done.stderr}")


def call(tool: str, **arguments: str) -> list[str]:
    pairs = [arg for key, value in arguments.items() for arg in ("--tool-arg", f"{key}={value}")]
    return ["--method", "tools/call", "--tool-name", tool, *pairs]


def text_of(result: Any) -> str:
    return "\n".join(block["text"] for block in result["content"] if block["type"] == "text")


# --- the Inspector CLI, one run per request: what a person probing rc-mcp by hand does ----------------


def test_the_inspector_lists_the_tools_over_stdio(inspector: list[str], rc_emulator: EmulatorSession) -> None:
    # session.env carries ROCKETCHAT_MCP_STATE_DIR: a temporary directory of this test's own.
    tools = run(inspector, rc_mcp_command(), "--method", "tools/list", env=rc_emulator.env)["tools"]
    assert [tool["name"] for tool in tools] == TOOLS
    for tool in tools:
        assert tool["annotations"]["readOnlyHint"] is True
        assert tool["inputSchema"]["additionalProperties"] is False
        assert tool["outputSchema"]["type"] == "object"


# --- the TypeScript SDK's Client, one session for many requests: what a host does -------------------


class TsClient:
    """``tests/ts_client.mjs`` under Node: a session of the TypeScript SDK's Client with rc-mcp, held
    open across requests. Every wait is bounded: a silent client fails the test, never hangs it."""

    def __init__(self, sdk: Path, target: list[str], env: dict[str, str] | None = None) -> None:
        # A file, not a pipe: Node never blocks writing to it. Closed in close().
        self.errors = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.process = subprocess.Popen(
            ["node", str(Path(__file__).with_name("ts_client.mjs")), str(sdk), *target],
            env={**base_env(), "RC_MCP_SERVER_ENV": json.dumps({**base_env(), **(env or {})})},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors, text=True,
        )  # fmt: skip
        self.answers: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.hello = self._answer()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.answers.put(line)
        self.answers.put("")  # the client exited

    def _answer(self) -> Any:
        try:
            line = self.answers.get(timeout=CALL_TIMEOUT)
        except queue.Empty:
            pytest.fail(f"the TypeScript client did not answer within {CALL_TIMEOUT} s")
        if not line:
            self._exited()
        answer = json.loads(line)
        assert "error" not in answer, answer["error"]
        return answer["result"]

    def _exited(self) -> NoReturn:
        code = self.process.wait(timeout=30)
        self.errors.seek(0)
        pytest.fail(f"the TypeScript client exited {code}: {self.errors.read()}")

    def request(self, method: str, **params: Any) -> Any:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps({"method": method, "params": params}) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            self._exited()
        return self._answer()

    def call(self, tool: str, **arguments: Any) -> Any:
        return self.request("tools/call", name=tool, arguments=arguments)

    def close(self) -> None:
        try:
            self.process.communicate(input="", timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
        self.errors.close()


@pytest.fixture(scope="module")
def sdk(inspector: list[str]) -> Path:
    """The TypeScript SDK the Inspector brought with it (1.32.2 for Inspector 0.15.0)."""
    found = Path(inspector[1]).parent.parent / "@modelcontextprotocol" / "sdk"
    assert (found / "dist" / "esm" / "client" / "index.js").exists(), f"no TypeScript SDK at {found}"
    return found


@pytest.fixture(scope="module")
def served() -> Iterator[EmulatorSession]:
    """One demo workspace for this module's TypeScript sessions; each test uses checkpoints of its own."""
    with demo_emulator() as session:
        yield session


@pytest.fixture(scope="module")
def ts(sdk: Path, served: EmulatorSession) -> Iterator[TsClient]:
    """One rc-mcp process over stdio, started by the TypeScript SDK's StdioClientTransport."""
    client = TsClient(sdk, ["stdio", *rc_mcp_command()], env=served.env)
    yield client
    client.close()


def test_a_host_session_lists_tools_and_prompts(ts: TsClient) -> None:
    assert ts.hello["server"]["name"] == "rc-mcp"
    assert [tool["name"] for tool in ts.hello["tools"]] == TOOLS  # listed on connecting: output schemas checked
    prompts = ts.request("prompts/list")["prompts"]
    assert [prompt["name"] for prompt in prompts] == ["audit_deletions", "catch_up", "what_did_i_miss"]
    (message,) = ts.request("prompts/get", name="catch_up", arguments={"room_id": "#general"})["messages"]
    assert message["role"] == "user"
    assert "Catch me up on the Rocket.Chat room #general" in message["content"]["text"]


def test_sync_messages_and_list_deleted(ts: TsClient) -> None:
    result = ts.call("sync_messages", room_id="#general", last_update=DEMO_START)
    assert result["isError"] is False, text_of(result)
    assert "Good morning! Release 4.2" in text_of(result)
    assert text_of(result).splitlines()[-1].startswith("end: ")
    assert result["structuredContent"]["room_id"] == "GENERAL"
    assert len(result["structuredContent"]["messages"]) == 13
    result = ts.call("list_deleted", room_id="GENERAL", next="0")
    assert result["isError"] is False, text_of(result)
    deleted = result["structuredContent"]["deleted"]
    assert len(deleted) == 1 and deleted[0]["id"] in text_of(result)


def test_list_rooms_workspace_catch_up_and_search(ts: TsClient) -> None:
    rooms = ts.call("list_rooms")
    assert rooms["isError"] is False and "@alice" in [room["name"] for room in rooms["structuredContent"]["rooms"]]
    checkpoint = f"ts-{uuid.uuid4().hex[:8]}"
    looked = ts.call("catch_up", checkpoint=checkpoint, since=DEMO_START, max_items=1000)
    assert looked["isError"] is False and looked["structuredContent"]["caught_up"] is True, text_of(looked)
    assert text_of(looked).startswith("catch_up workspace | ")
    found = ts.call("search_history", query="502s")
    assert found["isError"] is False and "EU 502s" in text_of(found)


def test_a_tool_error_is_a_result(ts: TsClient) -> None:
    result = ts.call("sync_messages", room_id="GENERAL", last_update=DEMO_START, next="0")
    assert result["isError"] is True
    assert "last_update cannot be combined with next" in text_of(result)
    assert "(No request was sent.)" in text_of(result)


def test_catch_up_keeps_its_checkpoint_across_processes(ts: TsClient, sdk: Path, served: EmulatorSession) -> None:
    room = served.demo.support
    checkpoint = f"ts-{uuid.uuid4().hex[:8]}"
    first = ts.call("catch_up", room_id=room, checkpoint=checkpoint, since=DEMO_START)
    assert first["isError"] is False, text_of(first)
    assert first["structuredContent"]["caught_up"] is True
    assert len(first["structuredContent"]["messages"]) == 2
    served.workspace.post(room, "alice", "Posted between two rc-mcp processes")
    later = TsClient(sdk, ["stdio", *rc_mcp_command()], env=served.env)  # a second process, same state directory
    try:
        again = later.call("catch_up", room_id=room, checkpoint=checkpoint)
    finally:
        later.close()
    assert again["isError"] is False, text_of(again)
    watermark = datetime.fromtimestamp(int(first["structuredContent"]["watermark"]) / 1000, UTC)
    assert again["structuredContent"]["since"] == watermark.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert [m["text"] for m in again["structuredContent"]["messages"]] == ["Posted between two rc-mcp processes"]


# --- streamable HTTP: rc-mcp serves, the Inspector connects to /mcp ---------------------------------


@pytest.fixture
def http_server(rc_emulator: EmulatorSession, tmp_path: Path) -> Iterator[str]:
    """``rc-mcp --transport streamable-http`` as a process of its own, in front of the emulator."""
    env = {**rc_emulator.env, "ROCKETCHAT_MCP_STATE_DIR": str(tmp_path / "state")}
    with rc_mcp_over_http(env, command=rc_mcp_command()) as url:
        yield f"{url}/mcp"


def test_http_tools_list_and_call(inspector: list[str], sdk: Path, http_server: str) -> None:
    tools = run(inspector, [http_server, "--transport", "http"], "--method", "tools/list")["tools"]
    assert [tool["name"] for tool in tools] == TOOLS
    host = TsClient(sdk, ["http", http_server])  # the SDK's StreamableHTTPClientTransport, one session
    try:
        result = host.call("sync_messages", room_id="#general", last_update=DEMO_START)
        again = host.call("catch_up", room_id="#general", since=DEMO_START)
    finally:
        host.close()
    assert result["isError"] is False, text_of(result)
    assert "Good morning! Release 4.2" in text_of(result)
    assert result["structuredContent"]["room_id"] == "GENERAL"
    assert again["isError"] is False and again["structuredContent"]["caught_up"] is True, text_of(again)
