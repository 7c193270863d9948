"""What the documentation tells people to run, run: every client configuration in the README starts
the command it names against the emulator and answers, and the Python example of docs/testing.md
works as written."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from rc_mcp.emulator.seed import DEMO_START
from rc_mcp.testing import EmulatorSession, demo_emulator
from tests.conftest import rc_mcp_over_http, text_of

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONNECT = README.split("## Connect your client", 1)[1].split("\n## ", 1)[0]
BLOCK = re.compile(r"```(json|bash)\n(.*?)```", re.S)
PLACEHOLDERS = {
    "https://chat.example.com": "ROCKETCHAT_URL",
    "your-user-id": "ROCKETCHAT_USER_ID",
    "your-personal-access-token": "ROCKETCHAT_AUTH_TOKEN",
    "${input:rc-token}": "ROCKETCHAT_AUTH_TOKEN",
}


def blocks(kind: str) -> list[str]:
    return [body for found, body in BLOCK.findall(CONNECT) if found == kind]


def stdio_entries() -> list[tuple[str, dict[str, Any]]]:
    """Each configured server that a client starts: (config key, entry)."""
    entries = []
    for block in blocks("json"):
        config = json.loads(block)
        for key in ("mcpServers", "servers"):
            for entry in config.get(key, {}).values():
                if "command" in entry:
                    entries.append((key, entry))
    return entries


def filled(env: dict[str, str], session: EmulatorSession) -> dict[str, str]:
    """The snippet's environment with the placeholders replaced by the emulator's values."""
    real = session.env
    return {**{k: real[PLACEHOLDERS.get(v, k)] if v in PLACEHOLDERS else v for k, v in env.items()},
            "ROCKETCHAT_MCP_STATE_DIR": str(session.state_dir)}  # fmt: skip


def test_the_readme_configures_every_client_it_names() -> None:
    keys = [key for key, _ in stdio_entries()]
    assert keys.count("mcpServers") == 1 and keys.count("servers") == 1  # Claude Desktop/Cursor, VS Code
    assert "claude mcp add" in blocks("bash")[0]
    http = [e for b in blocks("json") for e in json.loads(b).get("servers", {}).values() if e.get("type") == "http"]
    assert len(http) == 1 and http[0]["url"].endswith("/mcp")
    for where in ("~/Library/Application Support/Claude/", "%APPDATA%\\Claude\\", "~/.config/Claude/",
                  "~/.cursor/mcp.json", ".vscode/mcp.json"):  # fmt: skip
        assert where in CONNECT


@pytest.mark.parametrize("index", range(2))
async def test_each_json_configuration_starts_and_answers(index: int) -> None:
    _, entry = stdio_entries()[index]
    command = shutil.which(entry["command"])
    assert command, f"{entry['command']} is not on PATH: pip install -e . puts it there"
    with demo_emulator() as session:
        params = StdioServerParameters(command=command, args=entry.get("args", []), env=filled(entry["env"], session))
        async with Client(params) as client:
            result = await client.call_tool("sync_messages", {"room_id": "#general", "last_update": DEMO_START})
    assert result.is_error is False and "Good morning! Release 4.2" in text_of(result)


async def test_the_claude_code_command_starts_and_answers() -> None:
    words = shlex.split(blocks("bash")[0])
    assert words[:4] == ["claude", "mcp", "add", "rocketchat"]
    dash = words.index("--")
    env = dict(words[i + 1].split("=", 1) for i in range(4, dash) if words[i] == "--env")
    with demo_emulator() as session:
        params = StdioServerParameters(
            command=shutil.which(words[dash + 1]) or words[dash + 1], args=words[dash + 2 :], env=filled(env, session)
        )
        async with Client(params) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
    assert "catch_up" in tools and set(env) == {"ROCKETCHAT_URL", "ROCKETCHAT_USER_ID", "ROCKETCHAT_AUTH_TOKEN"}


async def test_the_http_configuration_reaches_a_shared_server(tmp_path: Path) -> None:
    (entry,) = [e for b in blocks("json") for e in json.loads(b).get("servers", {}).values() if e.get("type") == "http"]
    with demo_emulator() as session:
        env = {"ROCKETCHAT_URL": session.url, "ROCKETCHAT_MCP_STATE_DIR": str(tmp_path),
               "ROCKETCHAT_MCP_HTTP_TOKEN": "the-rc-mcp-http-token"}  # fmt: skip
        real = session.env
        mine = {"your-user-id": real["ROCKETCHAT_USER_ID"], "your-personal-access-token": real["ROCKETCHAT_AUTH_TOKEN"]}
        headers = {name: mine.get(value, value) for name, value in entry["headers"].items()}
        with rc_mcp_over_http(env) as url:
            async with (
                httpx2.AsyncClient(headers=headers) as http,
                Client(
                    streamable_http_client(entry["url"].replace("https://mcp.example.com", url), http_client=http)
                ) as client,
            ):
                result = await client.call_tool("sync_messages", {"room_id": "#general", "last_update": DEMO_START})
    assert result.is_error is False and "Good morning! Release 4.2" in text_of(result)


def test_the_python_example_runs_as_written() -> None:
    testing = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    example = testing.split("## Use from Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    with demo_emulator() as session:
        done = subprocess.run(
            [sys.executable, "-c", example], env={**os.environ, **session.env}, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sync_messages room=#general (id GENERAL)") and "Release 4.2" in done.stdout
