"""The documentation says what the code does: the tool reference (docs/tools.md) is generated from the
live tool schemas, the README's test line is what CI runs, and every environment variable rc-mcp reads
is in the README's configuration table.

After changing a tool, regenerate with ``RC_MCP_UPDATE_GOLDEN=1 pytest tests/test_readme.py``."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from mcp import Client
from mcp.types import Tool

from rc_mcp import config
from rc_mcp.config import Settings
from rc_mcp.server import build_server

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TOOLS_DOC = ROOT / "docs" / "tools.md"
NO_STORE = {"ROCKETCHAT_MCP_STORE": "off"}
START, END = "<!-- tool-reference:start -->", "<!-- tool-reference:end -->"
SETTINGS = Settings.from_env(
    {"ROCKETCHAT_URL": "http://127.0.0.1:9", "ROCKETCHAT_USER_ID": "u", "ROCKETCHAT_AUTH_TOKEN": "t", **NO_STORE}
)


def reference(tools: list[Tool]) -> str:
    parts = []
    for tool in tools:
        schema = tool.input_schema
        parts.append(f"### `{tool.name}` — {tool.title}\n")
        parts.append(f"Read-only: `{bool(tool.annotations and tool.annotations.read_only_hint)}`.\n")
        parts.append("```text\n" + (tool.description or "") + "\n```\n")
        parts.append("| argument | type | required | description |\n|---|---|---|---|")
        for name, prop in schema["properties"].items():
            kinds: list[str] = []
            for option in prop.get("anyOf", [prop]):
                found = option.get("type", "?")
                kinds.extend(found if isinstance(found, list) else [found])
            kind = " or ".join(dict.fromkeys(k for k in kinds if k != "null"))
            required = "yes" if name in schema.get("required", []) else "no"
            description = prop.get("description", "").replace("|", "\\|")
            parts.append(f"| `{name}` | {kind} | {required} | {description} |")
        output = tool.output_schema or {}
        fields = ", ".join(f"`{f}`" for f in output.get("properties", {}))
        parts.append(f"\nStructured output (`outputSchema` `{output.get('title')}`): {fields}.\n")
    return "\n".join(parts)


async def test_tool_reference_matches_live_schema() -> None:
    async with Client(build_server(SETTINGS)) as client:
        tools = (await client.list_tools()).tools
    generated = f"{START}\n{reference(tools)}\n{END}"
    text = TOOLS_DOC.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    assert pattern.search(text), "docs/tools.md lacks the tool-reference markers"
    if os.environ.get("RC_MCP_UPDATE_GOLDEN") == "1":
        TOOLS_DOC.write_text(pattern.sub(lambda _: generated, text), encoding="utf-8")
        text = TOOLS_DOC.read_text(encoding="utf-8")
    assert pattern.search(text).group(0) == generated  # type: ignore[union-attr]
    readme = README.read_text(encoding="utf-8")
    assert all(f"`{tool.name}`" in readme for tool in tools), "the README's table of tools misses one"


def test_readme_commands_are_what_ci_runs() -> None:
    text = README.read_text(encoding="utf-8")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci in text, "the README's test line and .ci/run drifted apart"
    assert "rc-mcp demo" in text
    names = [value for key, value in vars(config).items() if key.endswith("_VAR") and isinstance(value, str)]
    assert len(names) >= 13
    for name in names:
        assert f"| `{name}` |" in text, f"{name} is read but not in the README's configuration table"
    assert text.count("\n") < 260, "the README is for a newcomer's two minutes: move details to docs/"
