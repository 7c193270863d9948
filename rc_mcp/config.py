"""Settings read once from the environment at start-up.

This is the only module that spells the environment variable names.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

URL_VAR = "ROCKETCHAT_URL"
USER_ID_VAR = "ROCKETCHAT_USER_ID"
TOKEN_VAR = "ROCKETCHAT_AUTH_TOKEN"
TIMEOUT_VAR = "ROCKETCHAT_TIMEOUT"
STATE_DIR_VAR = "ROCKETCHAT_MCP_STATE_DIR"
STORE_VAR = "ROCKETCHAT_MCP_STORE"
STORE_MAX_MESSAGES_VAR = "ROCKETCHAT_MCP_STORE_MAX_MESSAGES"
STORE_MAX_AGE_DAYS_VAR = "ROCKETCHAT_MCP_STORE_MAX_AGE_DAYS"
MAX_WAIT_VAR = "ROCKETCHAT_MCP_MAX_RATE_LIMIT_WAIT"
CALL_DEADLINE_VAR = "ROCKETCHAT_MCP_CALL_DEADLINE"
HTTP_TOKEN_VAR = "ROCKETCHAT_MCP_HTTP_TOKEN"
HTTP_ALLOWED_HOSTS_VAR = "ROCKETCHAT_MCP_HTTP_ALLOWED_HOSTS"
# What a shared HTTP server's callers send when the environment names no account (Rocket.Chat's own
# header names, so a client configured for Rocket.Chat's REST API already has them).
USER_ID_HEADER = "X-User-Id"
TOKEN_HEADER = "X-Auth-Token"
MAX_RESPONSE_MB_VAR = "ROCKETCHAT_MCP_MAX_RESPONSE_MB"

DEFAULT_TIMEOUT_SECONDS = 20.0
DEFAULT_STORE_MAX_MESSAGES = 200_000
DEFAULT_STORE_MAX_AGE_DAYS = 90
# Hosts built on the TypeScript SDK cancel a request after 60 s unless progress resets the timer, so
# a tool call never waits that long for the rate-limit window; it returns early and says when to retry.
DEFAULT_MAX_WAIT_SECONDS = 40.0
# Every tool call answers within this, whatever the server does (same 60 s host limit as above).
DEFAULT_CALL_DEADLINE_SECONDS = 50.0
DEFAULT_MAX_RESPONSE_MB = 64.0


class ConfigError(ValueError):
    """Raised when the environment is missing a variable or holds a malformed one."""


class Settings(BaseModel):
    """Where the Rocket.Chat server is and who we are on it."""

    model_config = ConfigDict(frozen=True)

    url: str
    user_id: str
    # SecretStr keeps the token out of reprs, logs and tracebacks.
    auth_token: SecretStr
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    # The local message store and checkpoints; None when ROCKETCHAT_MCP_STORE=off.
    state_dir: Path | None = None
    store_max_messages: int = DEFAULT_STORE_MAX_MESSAGES
    store_max_age_days: int = DEFAULT_STORE_MAX_AGE_DAYS
    max_rate_limit_wait: float = DEFAULT_MAX_WAIT_SECONDS
    call_deadline: float = DEFAULT_CALL_DEADLINE_SECONDS
    max_response_bytes: int = int(DEFAULT_MAX_RESPONSE_MB * 1024 * 1024)
    # Serving over HTTP: the bearer token callers must send, and the public host names to accept.
    http_token: SecretStr | None = None
    http_allowed_hosts: tuple[str, ...] = ()

    @property
    def account(self) -> str:
        """Whose history this is: the server and the user on it."""
        return f"{self.url}|{self.user_id}"

    @property
    def has_account(self) -> bool:
        """Whether the environment names the account; a shared HTTP server takes it from each caller."""
        return bool(self.user_id)

    def for_account(self, user_id: str, auth_token: str) -> Settings:
        """The same server and limits, as another user."""
        return self.model_copy(update={"user_id": user_id, "auth_token": SecretStr(auth_token)})

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, account_required: bool = True) -> Settings:
        """Build settings from an environment mapping; raise ConfigError with one clear line.

        ``account_required=False`` (a shared HTTP server) accepts an environment that names no
        account: then each caller's request carries one.
        """
        url = _required(environ, URL_VAR, "the server's base URL, e.g. https://chat.example.com")
        given = [name for name in (USER_ID_VAR, TOKEN_VAR) if environ.get(name, "").strip()]
        if account_required or given:
            user_id = _required(environ, USER_ID_VAR, "your user id (My Account → Personal Access Tokens shows it)")
            token = _required(environ, TOKEN_VAR, "a personal access token or login token")
        else:
            user_id = token = ""
        store = environ.get(STORE_VAR, "on").strip().lower()
        if store not in ("on", "off", "1", "0", "true", "false", ""):
            raise ConfigError(f"{STORE_VAR}={store!r} is not on or off: set it to off to keep no local history.")
        enabled = store in ("on", "1", "true", "")
        return cls(
            url=_normalise_url(url),
            user_id=user_id,
            auth_token=SecretStr(token),
            timeout=_number(environ, TIMEOUT_VAR, DEFAULT_TIMEOUT_SECONDS, 600, "a number of seconds"),
            state_dir=_state_dir(environ) if enabled else None,
            store_max_messages=int(
                _number(environ, STORE_MAX_MESSAGES_VAR, DEFAULT_STORE_MAX_MESSAGES, 10**9, "a number of messages")
            ),
            store_max_age_days=int(_number(environ, STORE_MAX_AGE_DAYS_VAR, DEFAULT_STORE_MAX_AGE_DAYS, 36500, "days")),
            max_rate_limit_wait=_number(environ, MAX_WAIT_VAR, DEFAULT_MAX_WAIT_SECONDS, 3600, "a number of seconds"),
            call_deadline=_number(
                environ, CALL_DEADLINE_VAR, DEFAULT_CALL_DEADLINE_SECONDS, 3600, "a number of seconds"
            ),
            http_token=SecretStr(environ[HTTP_TOKEN_VAR].strip()) if environ.get(HTTP_TOKEN_VAR, "").strip() else None,
            http_allowed_hosts=tuple(
                h.strip() for h in environ.get(HTTP_ALLOWED_HOSTS_VAR, "").split(",") if h.strip()
            ),
            max_response_bytes=int(
                _number(environ, MAX_RESPONSE_MB_VAR, DEFAULT_MAX_RESPONSE_MB, 4096, "a number of megabytes")
                * 1024
                * 1024
            ),
        )


def _required(environ: Mapping[str, str], name: str, what: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: set it to {what}.")
    return value


def _normalise_url(raw: str) -> str:
    # The URL is never echoed: it may carry a password, and a config error goes to logs.
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{URL_VAR} is not an http(s) URL: set it to the server's base URL, e.g. https://chat.example.com"
        )
    if "@" in parts.netloc:
        raise ConfigError(
            f"{URL_VAR} contains a user name or password (user:pass@host): Rocket.Chat does not use them, so "
            f"remove them from the URL and put the credentials in {USER_ID_VAR} and {TOKEN_VAR}."
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"{URL_VAR} must not contain a query or fragment: set just the base URL.")
    path = parts.path.rstrip("/")
    # Users often paste the API root; the client adds /api/v1 itself.
    for suffix in ("/api/v1", "/api"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return f"{parts.scheme}://{parts.netloc}{path}"


def _number(environ: Mapping[str, str], name: str, default: float, upper: float, what: str) -> float:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= upper:
        raise ConfigError(f"{name}={raw!r} is not {what} between 0 and {upper:g}.")
    return value


def _state_dir(environ: Mapping[str, str]) -> Path:
    """Where the message store lives: ROCKETCHAT_MCP_STATE_DIR, else the platform's user state directory."""
    explicit = environ.get(STATE_DIR_VAR, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    home = Path(environ.get("HOME") or Path.home())
    if sys.platform == "win32":
        return Path(environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / "rc-mcp"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "rc-mcp"
    base = environ.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state")
    return Path(base) / "rc-mcp"
