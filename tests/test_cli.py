"""The ``rc-mcp`` command itself, as a user runs it: doctor, the terminal hint, the emulator's port."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from rc_mcp.__main__ import main
from rc_mcp.testing import demo_emulator
from tests.conftest import first_line, free_port

BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("ROCKETCHAT_")}
NO_STORE = {"ROCKETCHAT_MCP_STORE": "off"}


def rc_mcp(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rc_mcp", *args], env={**BASE_ENV, **env}, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


# --- rc-mcp doctor --------------------------------------------------------------------------------


def test_doctor_against_the_emulator_on_loopback() -> None:
    with demo_emulator(rate_limit=True) as session:
        done = rc_mcp("doctor", env=session.env)
        url, user_id, state = session.url, session.demo.user_id, session.state_dir
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[:5] == [
        f"ok   config: {url} as user id {user_id}, token set, timeout 20 s",
        f"ok   reach: {url} answered (HTTP 200)",
        "ok   server: Rocket.Chat 7.10",
        "ok   credentials: accepted: logged in as mcp-agent",
        "ok   cursors: 7.10 has cursors (7.1+): paging by next/previous",
    ]
    # Served by uvicorn, the answer has a Date header (whole seconds, cached), so the reset is said in server time.
    assert re.fullmatch(
        r"ok   rate limit: 10 calls per window, 9 left, the window resets in \d{1,2} s "
        r"\(seen on /api/v1/me; each route has its own window\)",
        lines[5],
    ), lines[5]
    assert lines[6] == f"ok   history: on, {state / 'rc-mcp.sqlite3'} (0 messages kept)"
    assert len(lines) == 7
    assert session.demo.token not in done.stdout


def test_doctor_failing_exits_1_without_a_traceback() -> None:
    with demo_emulator() as session:
        done = rc_mcp("doctor", env={**session.env, "ROCKETCHAT_AUTH_TOKEN": "wrong-token-0123456789"})
    assert done.returncode == 1
    assert done.stderr == ""
    assert "FAIL credentials: rejected (HTTP 401" in done.stdout
    assert "wrong-token-0123456789" not in done.stdout


def test_doctor_with_a_bad_configuration() -> None:
    done = rc_mcp("doctor", env={"ROCKETCHAT_URL": "http://x", **NO_STORE})
    assert done.returncode == 1
    assert done.stderr == ""
    assert done.stdout.startswith("FAIL config: ROCKETCHAT_USER_ID is not set")
    assert done.stdout.count("\n") == 1


# --- rc-mcp with no command -----------------------------------------------------------------------

SERVER_ENV = {
    "ROCKETCHAT_URL": "http://127.0.0.1:9",  # never contacted: no MCP client asks for anything
    "ROCKETCHAT_USER_ID": "u",
    "ROCKETCHAT_AUTH_TOKEN": "t",
    **NO_STORE,
}


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "a person", "version": "1"}},
}


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
@pytest.mark.parametrize("started_ignoring_ctrl_c", [False, True])  # True: as `rc-mcp &` from a script
def test_started_from_a_terminal_says_what_it_waits_for_and_stops_on_ctrl_c(started_ignoring_ctrl_c: bool) -> None:
    import pty

    def ignore_ctrl_c() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "rc_mcp"], env={**BASE_ENV, **SERVER_ENV}, stdin=terminal,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=ignore_ctrl_c if started_ignoring_ctrl_c else None,
    )  # fmt: skip
    os.close(terminal)
    try:
        assert process.stderr is not None and process.stdout is not None
        first = first_line(process.stderr.fileno(), seconds=30)
        # Typed at the terminal: once it is answered, the server is in its loop, reading stdin.
        os.write(controller, json.dumps(INITIALIZE).encode() + b"\n")
        assert '"serverInfo"' in first_line(process.stdout.fileno(), seconds=30)
        process.send_signal(signal.SIGINT)  # what Ctrl-C at the terminal sends
        if started_ignoring_ctrl_c:  # it goes on: a ping typed after the signal is answered
            os.write(controller, json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"}).encode() + b"\n")
            assert '"id":2' in first_line(process.stdout.fileno(), seconds=30).replace(" ", "")
        else:
            assert process.wait(timeout=30) == -signal.SIGINT
    finally:
        process.kill()
        process.wait(timeout=10)
        os.close(controller)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    assert first == (
        "rc-mcp: waiting for an MCP client on stdin (Ctrl-D to stop). "
        "To try rc-mcp, run `rc-mcp demo`; to check the setup, `rc-mcp doctor`.\n"
    )


def test_started_by_a_client_prints_nothing_extra() -> None:
    done = rc_mcp(env=SERVER_ENV)  # stdin is not a terminal and at its end: the server stops at once
    assert done.returncode == 0
    assert done.stderr == ""
    assert done.stdout == ""


# --- rc-mcp emulator on a busy port ---------------------------------------------------------------


def test_emulator_on_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = rc_mcp("emulator", "--port", str(port), env={})
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"rc-mcp: cannot serve the emulator on 127.0.0.1:{port} (")
    assert done.stderr.endswith("); try another --port\n")
    assert done.stderr.count("\n") == 1


def test_emulator_that_fails_to_start_after_the_port_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The port can be taken between the check and uvicorn's bind; the runner then raises RuntimeError.
    def taken_meanwhile(port: int, *, rate_limit: bool) -> None:
        raise RuntimeError(f"the emulator could not start on 127.0.0.1:{port}")

    monkeypatch.setattr("rc_mcp.emulator.runner.serve_demo", taken_meanwhile)
    port = free_port()
    with pytest.raises(SystemExit) as stopped:
        main(["emulator", "--port", str(port)])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        f"rc-mcp: cannot serve the emulator on 127.0.0.1:{port} (it did not start); try another --port\n"
    )
