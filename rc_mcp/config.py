"""Settings read once from the environment at start-up.

This is the only module that spells the environment variable names.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

URL_VAR = "ROCKETCHAT_URL"
USER_ID_VAR = "ROCKETCHAT_USER_ID"
TOKEN_VAR = "ROCKETCHAT_AUTH_TOKEN"
TIMEOUT_VAR = "ROCKETCHAT_TIMEOUT"

DEFAULT_TIMEOUT_SECONDS = 20.0


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

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping; raise ConfigError with one clear line."""
        url = _required(environ, URL_VAR, "the server's base URL, e.g. https://chat.example.com")
        user_id = _required(environ, USER_ID_VAR, "your user id (My Account → Personal Access Tokens shows it)")
        token = _required(environ, TOKEN_VAR, "a personal access token or login token")
        return cls(
            url=_normalise_url(url),
            user_id=user_id,
            auth_token=SecretStr(token),
            timeout=_timeout(environ.get(TIMEOUT_VAR)),
        )


def _required(environ: Mapping[str, str], name: str, what: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: set it to {what}.")
    return value


def _normalise_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{URL_VAR}={raw!r} is not an http(s) URL: set it to the server's base URL, e.g. https://chat.example.com"
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


def _timeout(raw: str | None) -> float:
    if raw is None or not raw.strip():
        return DEFAULT_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 600:
        raise ConfigError(f"{TIMEOUT_VAR}={raw!r} is not a number of seconds between 0 and 600.")
    return value
