"""What can go wrong when talking to Rocket.Chat, as typed exceptions.

Each message is written for the agent that will read it: what happened and what to do next.
Server-provided text inside a message is untrusted; the tools layer cleans every error message
before it is shown.

RocketChatError
├── ServerUnreachable     connection refused, DNS failure, timeout
├── AuthenticationFailed  401: user id / token not accepted
├── RateLimited           429: too many calls in the server's window
├── RequestRejected       400 with success:false
│   ├── InvalidParams     invalid-params / error-invalid-params (schema failure)
│   ├── NotAllowed        error-not-allowed (unknown room or no access)
│   ├── RoomNotFound      rooms.info: no room has that name
│   └── RoomArchived      rooms.info: the room is archived
└── UnexpectedResponse    non-JSON body, 5xx, or a shape we do not understand
    └── ResponseTooLarge  an answer over ROCKETCHAT_MCP_MAX_RESPONSE_MB
"""

from __future__ import annotations

import math

from rc_mcp.config import MAX_RESPONSE_MB_VAR, TOKEN_VAR, USER_ID_VAR


class RocketChatError(Exception):
    """Base class for every failure of a call to the Rocket.Chat server."""


class ServerUnreachable(RocketChatError):
    """The request could not be completed (connection error or timeout)."""


class AuthenticationFailed(RocketChatError):
    """The server answered 401: the user id or auth token was not accepted."""

    def __init__(self, server_message: str) -> None:
        super().__init__(
            f"Rocket.Chat rejected the credentials (HTTP 401: {server_message}). "
            f"Check {USER_ID_VAR} and {TOKEN_VAR}: the token must belong to that user id, "
            "and a personal access token must have been created with 'Ignore Two Factor Authentication'. "
            "Retrying will not help until the configuration is fixed."
        )


class RateLimited(RocketChatError):
    """The server answered 429; ``reset_at_ms`` is when its window restarts (epoch ms), if known."""

    def __init__(self, server_message: str, reset_at_ms: int | None, wait_seconds: int | None) -> None:
        self.reset_at_ms = reset_at_ms
        self.wait_seconds = wait_seconds
        when = f"in {wait_seconds} s" if wait_seconds is not None else "after the server's rate-limit window"
        super().__init__(
            f"Rocket.Chat is rate-limiting this endpoint (HTTP 429: {server_message}). "
            f"Retry the same call {when}. Normal users may call chat.syncMessages about 10 times a minute."
        )


class RequestRejected(RocketChatError):
    """The server answered 400 with ``success: false``."""

    advice = ""

    def __init__(self, error: str, error_type: str | None) -> None:
        self.error = error
        self.error_type = error_type
        tag = f" [{error_type}]" if error_type and f"[{error_type}]" not in error else ""
        text = f"Rocket.Chat rejected the request: {error}{tag}."
        super().__init__(f"{text} {self.advice}" if self.advice else text)


class InvalidParams(RequestRejected):
    """The server's query-schema validation failed (``invalid-params`` or ``error-invalid-params``)."""

    advice = (
        "This server version does not accept these query parameters; this is a bug in rc-mcp, "
        "please report it with the server version."
    )


class NotAllowed(RequestRejected):
    """``error-not-allowed``: the room does not exist or this user cannot read it."""

    advice = (
        "The room is unknown or this user may not read it. Send the room's id or its unique name as "
        "'#name' (not its display name), and check that the user is a member of private rooms."
    )


class RoomNotFound(RequestRejected):
    """``rooms.info`` found no room with that name."""

    advice = (
        "No room has that name. Use the room's unique name as in its URL (/channel/<name> or "
        "/group/<name>), not its display name, or its id; direct messages have no name, use their id."
    )


class RoomArchived(RequestRejected):
    """``rooms.info`` refuses archived rooms by name."""

    advice = (
        "Archived rooms cannot be looked up by name. Pass the room's id instead "
        "(Administration → Rooms shows it), or ask an admin to unarchive the room."
    )


class UnexpectedResponse(RocketChatError):
    """The server answered something we cannot interpret (5xx, non-JSON, missing fields)."""


class ResponseTooLarge(UnexpectedResponse):
    """An answer grew past the configured limit while it was read (counted after decompression)."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(
            f"Rocket.Chat's answer was larger than {limit_bytes / 1048576:g} MB ({MAX_RESPONSE_MB_VAR}), so "
            "rc-mcp stopped reading it. Ask for fewer items at a time (a smaller count or max_items), or raise "
            f"{MAX_RESPONSE_MB_VAR}."
        )


def wait_seconds_until(reset_at_ms: int | None, now_ms: int) -> int | None:
    """Seconds to wait until ``reset_at_ms``, rounded up like the server does; None if unknown."""
    if reset_at_ms is None:
        return None
    return max(0, math.ceil((reset_at_ms - now_ms) / 1000))
