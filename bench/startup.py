"""Cold start: from spawning ``python -m rc_mcp`` to its reply to MCP ``initialize``, next to a bare
``MCPServer`` with one tool (the SDK's own floor), as pairs run alternately (which goes first
alternates too), so both see the same machine load. The client writes one raw JSON-RPC line and
times until the reply line, so the client side costs nothing. Prints the median of the per-pair
ratios. rc_mcp's bytecode is compiled first, as installing the package does (its dependencies have
theirs from pip): otherwise, with PYTHONDONTWRITEBYTECODE set, every start would compile rc_mcp again.
Run: python bench/startup.py [pairs]
"""

from __future__ import annotations

import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIRS = 9
TARGET = 1.10
INITIALIZE = (
    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
    '"capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}'
)
BARE_SERVER = """
from mcp.server.mcpserver import MCPServer

server = MCPServer("bare")


@server.tool()
def echo(text: str) -> str:
    return text


server.run()
"""
ENV = {
    "ROCKETCHAT_URL": "http://127.0.0.1:9",
    "ROCKETCHAT_USER_ID": "u",
    "ROCKETCHAT_AUTH_TOKEN": "t",
    "ROCKETCHAT_MCP_STORE": "off",
}


def time_to_initialize(command: list[str], env: dict[str, str]) -> float:
    """Seconds from spawn to the initialize reply on stdout."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(INITIALIZE.encode() + b"\n")
    process.stdin.flush()
    reply = process.stdout.readline()
    elapsed = time.perf_counter() - start
    process.stdin.close()
    process.wait(timeout=10)
    answer = json.loads(reply)
    assert answer.get("id") == 1 and "result" in answer, answer
    return elapsed


def main() -> int:
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else PAIRS
    env = {**os.environ, **ENV}
    compileall.compile_dir(ROOT / "rc_mcp", quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare_server.py"
        bare.write_text(BARE_SERVER)
        commands = {"rc-mcp": [sys.executable, "-m", "rc_mcp"], "bare": [sys.executable, str(bare)]}
        for command in commands.values():  # warm the OS file cache and the bytecode caches
            time_to_initialize(command, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for pair in range(pairs):
            for name in commands if pair % 2 == 0 else reversed(commands):
                times[name].append(time_to_initialize(commands[name], env))
    ratios = [ours / bare for ours, bare in zip(times["rc-mcp"], times["bare"], strict=True)]
    ratio = statistics.median(ratios)
    for name, values in times.items():
        print(f"{name + ':':16} median {statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f})")
    print(f"pair ratios:     {', '.join(f'{r:.2f}' for r in ratios)} (spread {min(ratios):.2f}-{max(ratios):.2f})")
    print(f"ratio:           {ratio:.2f}x (median of {pairs} pairs; target <= {TARGET:.2f}x)")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
