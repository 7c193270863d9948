"""Entry points: ``rc-mcp`` (stdio MCP server), ``rc-mcp demo``, ``rc-mcp emulator`` and ``rc-mcp doctor``."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
from typing import NoReturn

from rc_mcp import __version__


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    if not arguments:  # how MCP hosts start it: straight to serving, without argparse's import cost
        serve_stdio()
        return
    from rc_mcp.config import TOKEN_VAR, URL_VAR, USER_ID_VAR

    parser = argparse.ArgumentParser(
        prog="rc-mcp",
        description="MCP server for Rocket.Chat's chat.syncMessages. With no command it serves MCP on "
        f"stdin/stdout (or over HTTP with --transport streamable-http), configured by {URL_VAR}, "
        f"{USER_ID_VAR} and {TOKEN_VAR}.",
    )
    parser.add_argument("--version", action="version", version=f"rc-mcp {__version__}")
    parser.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio", help="default stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP: address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8000, help="HTTP: port (default 8000; 0 picks a free one); MCP is served at /mcp"
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("demo", help="run a scripted agent session against the built-in demo workspace")
    emulator = commands.add_parser("emulator", help="serve the demo workspace as a Rocket.Chat stand-in")
    emulator.add_argument("--port", type=int, default=3000, help="loopback port (default 3000)")
    emulator.add_argument("--rate-limit", action="store_true", help="enforce 10 calls/min like a real server")
    commands.add_parser(
        "doctor",
        help="check the configuration, the server, the credentials and the local history; one line per check",
    )
    args = parser.parse_args(arguments)

    if args.command == "demo":
        from rc_mcp.demo import main as demo_main

        demo_main()
    elif args.command == "emulator":
        run_emulator(args.port, rate_limit=args.rate_limit)
    elif args.command == "doctor":
        from rc_mcp.doctor import run

        raise SystemExit(run(os.environ))
    elif args.transport == "streamable-http":
        serve_http(args.host, args.port)
    else:
        serve_stdio()


def run_emulator(port: int, *, rate_limit: bool) -> None:
    import socket

    # uvicorn logs its own traceback-like error when it cannot bind, so the port is tried first.
    # SO_REUSEADDR as uvicorn sets it: a port held only by closed connections (TIME_WAIT) is free.
    probe = socket.socket()
    try:
        if os.name == "posix":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        _port_unusable(port, reason)
    finally:
        probe.close()
    from rc_mcp.emulator.runner import serve_demo

    try:
        serve_demo(port, rate_limit=rate_limit)
    except RuntimeError:  # taken between the probe and the bind, say: the runner's thread died
        _port_unusable(port, "it did not start")


def _port_unusable(port: int, reason: str) -> NoReturn:
    sys.stderr.write(f"rc-mcp: cannot serve the emulator on 127.0.0.1:{port} ({reason}); try another --port\n")
    raise SystemExit(2)


def serve_http(host: str, port: int) -> None:
    from rc_mcp.config import ConfigError, Settings

    try:
        # Without an account in the environment, each caller sends its own (a shared server).
        settings = Settings.from_env(os.environ, account_required=False)
    except ConfigError as exc:
        _exit_config(str(exc))
    from rc_mcp.http import MCP_PATH, listen, refusal, serve, url_of
    from rc_mcp.server import build_server

    token = settings.http_token.get_secret_value() if settings.http_token else None
    refused = refusal(host, token, settings.http_allowed_hosts)
    if refused:
        _exit_config(refused)
    try:
        sockets = listen(host, port)
    except (OSError, OverflowError) as exc:  # OverflowError: a port past 65535
        _cannot_serve(host, port, exc)
    # The address as bound: with --port 0, this line is how a script learns the port.
    sys.stderr.write(f"rc-mcp: serving MCP at {url_of(sockets)}{MCP_PATH}\n")
    serve(build_server(settings), sockets, host=host, token=token, allowed_hosts=list(settings.http_allowed_hosts))


def _cannot_serve(host: str, port: int, exc: OSError | OverflowError) -> NoReturn:
    import errno

    reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
    port_problem = not isinstance(exc, OSError) or exc.errno in (errno.EADDRINUSE, errno.EACCES)
    advice = "try another --port" if port_problem else "check --host"
    sys.stderr.write(f"rc-mcp: cannot serve on {host}:{port} ({reason}); {advice}\n")
    raise SystemExit(2)


def _exit_config(message: str) -> NoReturn:
    sys.stderr.write(f"rc-mcp: configuration error: {message}\n")
    raise SystemExit(2)


def serve_stdio() -> None:
    if sys.stdin.isatty():  # a person, not an MCP client, started it
        sys.stderr.write(
            "rc-mcp: waiting for an MCP client on stdin (Ctrl-D to stop). "
            "To try rc-mcp, run `rc-mcp demo`; to check the setup, `rc-mcp doctor`.\n"
        )
        # Ctrl-C stops it at once. Otherwise asyncio turns it into a cancellation that then waits for
        # the thread blocked reading the terminal, so nothing happens until Enter. Nothing is lost: the
        # local history is SQLite, and an unfinished write is rolled back when it is next opened.
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when started ignoring it (`&`)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
    # Start-up makes ~130,000 long-lived objects; collecting them while they are made, and then in
    # every later collection, costs a tenth of the start and slows every answer: freeze them.
    gc.disable()
    from rc_mcp.config import ConfigError, Settings

    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        _exit_config(str(exc))
    from rc_mcp.server import build_server

    server = build_server(settings)
    gc.freeze()
    gc.enable()
    server.run()


if __name__ == "__main__":
    main()
