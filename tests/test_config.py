from __future__ import annotations

import pytest

from rc_mcp.config import ConfigError, Settings

GOOD = {
    "ROCKETCHAT_URL": "https://chat.example.com/",
    "ROCKETCHAT_USER_ID": "u1",
    "ROCKETCHAT_AUTH_TOKEN": "tok-SECRET-123",
}


def test_reads_and_normalises() -> None:
    settings = Settings.from_env(GOOD)
    assert settings.url == "https://chat.example.com"
    assert settings.user_id == "u1"
    assert settings.auth_token.get_secret_value() == "tok-SECRET-123"
    assert settings.timeout == 20.0


@pytest.mark.parametrize("suffix", ["/api/v1", "/api/v1/", "/api"])
def test_api_root_is_accepted(suffix: str) -> None:
    settings = Settings.from_env({**GOOD, "ROCKETCHAT_URL": "https://chat.example.com/rc" + suffix})
    assert settings.url == "https://chat.example.com/rc"


@pytest.mark.parametrize("name", ["ROCKETCHAT_URL", "ROCKETCHAT_USER_ID", "ROCKETCHAT_AUTH_TOKEN"])
def test_missing_variable_is_named(name: str) -> None:
    env = {k: v for k, v in GOOD.items() if k != name}
    with pytest.raises(ConfigError, match=f"^{name} is not set: set it to "):
        Settings.from_env(env)
    with pytest.raises(ConfigError, match=f"^{name} is not set"):
        Settings.from_env({**GOOD, name: "   "})


@pytest.mark.parametrize("url", ["chat.example.com", "ftp://chat.example.com", "https://", "https://x/?a=1"])
def test_malformed_url(url: str) -> None:
    with pytest.raises(ConfigError, match="ROCKETCHAT_URL"):
        Settings.from_env({**GOOD, "ROCKETCHAT_URL": url})


@pytest.mark.parametrize(
    "url",
    ["https://bot:hunter2@chat.example.com", "https://bot@chat.example.com", "http://:hunter2@x", "https://x:99999"],
)
def test_credentials_in_the_url_or_a_bad_port_are_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**GOOD, "ROCKETCHAT_URL": url})
    assert "hunter2" not in str(raised.value) and url not in str(raised.value)


def test_a_shared_http_server_may_leave_the_account_out() -> None:
    shared = Settings.from_env({"ROCKETCHAT_URL": "https://chat.example.com"}, account_required=False)
    assert not shared.has_account
    with pytest.raises(ConfigError, match="ROCKETCHAT_AUTH_TOKEN is not set"):
        Settings.from_env({"ROCKETCHAT_URL": "https://x", "ROCKETCHAT_USER_ID": "u"}, account_required=False)
    assert shared.for_account("u2", "t2").account == "https://chat.example.com|u2"


@pytest.mark.parametrize("value", ["abc", "0", "-1", "601"])
def test_malformed_timeout(value: str) -> None:
    with pytest.raises(ConfigError, match="ROCKETCHAT_TIMEOUT"):
        Settings.from_env({**GOOD, "ROCKETCHAT_TIMEOUT": value})


def test_token_never_in_repr_or_dump() -> None:
    settings = Settings.from_env(GOOD)
    assert "SECRET" not in repr(settings)
    assert "SECRET" not in str(settings.model_dump())
    assert "SECRET" not in settings.model_dump_json()


def test_local_history_settings(tmp_path: object) -> None:
    default = Settings.from_env({**GOOD, "HOME": "/home/ada"})
    assert str(default.state_dir) in ("/home/ada/.local/state/rc-mcp", "/home/ada/Library/Application Support/rc-mcp")
    assert Settings.from_env({**GOOD, "HOME": "/h", "XDG_STATE_HOME": "/x"}).state_dir is not None
    chosen = Settings.from_env({**GOOD, "ROCKETCHAT_MCP_STATE_DIR": "/srv/rc"})
    assert str(chosen.state_dir) == "/srv/rc"
    assert Settings.from_env({**GOOD, "ROCKETCHAT_MCP_STORE": "off"}).state_dir is None
    capped = Settings.from_env(
        {**GOOD, "ROCKETCHAT_MCP_STORE_MAX_MESSAGES": "500", "ROCKETCHAT_MCP_STORE_MAX_AGE_DAYS": "7"}
    )
    assert (capped.store_max_messages, capped.store_max_age_days) == (500, 7)
    assert Settings.from_env({**GOOD, "ROCKETCHAT_MCP_MAX_RATE_LIMIT_WAIT": "5"}).max_rate_limit_wait == 5


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ROCKETCHAT_MCP_STORE", "maybe"),
        ("ROCKETCHAT_MCP_STORE_MAX_MESSAGES", "lots"),
        ("ROCKETCHAT_MCP_STORE_MAX_AGE_DAYS", "0"),
        ("ROCKETCHAT_MCP_MAX_RATE_LIMIT_WAIT", "-1"),
    ],
)
def test_malformed_history_settings(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**GOOD, name: value})
