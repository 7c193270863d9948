"""A shared server's sessions, one per caller: credentials are checked before anything of the caller's
exists, wrong ones leave no trace, one history per account however its first calls arrive, and a new
caller's opening never holds up the others."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import anyio
import httpx
import pytest
from pydantic import SecretStr

from rc_mcp import accounts as accounts_module
from rc_mcp.accounts import Accounts
from rc_mcp.config import Settings
from rc_mcp.emulator import Emulator
from rc_mcp.errors import AuthenticationFailed
from rc_mcp.history import History
from rc_mcp.session import Session
from rc_mcp.store import FILE_NAME
from tests.conftest import T0, FakeClock, bare_workspace, settings_for

pytestmark = pytest.mark.anyio
CANARY = "CANARY-TOKEN-accounts-5d1e"


def shared(tmp_path: Path) -> tuple[Accounts, Emulator]:
    """Accounts of a shared server (no account in the environment) before a bare workspace."""
    ws, _ = bare_workspace()
    emulator = Emulator(ws)
    settings = settings_for("http://rc.test", ROCKETCHAT_MCP_STATE_DIR=str(tmp_path))
    settings = settings.model_copy(update={"user_id": "", "auth_token": SecretStr("")})
    return Accounts(settings, transport=httpx.ASGITransport(app=emulator.app)), emulator


def caller(user_id: str, token: str) -> dict[str, str]:
    return {"x-user-id": user_id, "x-auth-token": token}


class Gate:
    """Stands in for open_history: counts the openings and holds each until ``release`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.opened: list[str] = []

    def __call__(self, settings: Settings) -> History:
        self.opened.append(settings.user_id)
        self.release.wait()
        return History(None)


async def test_wrong_credentials_open_no_history_and_leave_no_session(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    accounts, _ = shared(tmp_path)
    caplog.set_level(logging.DEBUG)
    for user_id, token in (("USER", CANARY), ("NOBODY", CANARY)):
        with pytest.raises(AuthenticationFailed) as refused:
            await accounts.session(caller(user_id, token))
        assert CANARY not in str(refused.value)
    assert not (tmp_path / FILE_NAME).exists()  # no history opened, so nothing written
    assert len(accounts._sessions) == 0 and len(accounts._verified) == 0
    assert CANARY not in caplog.text and CANARY not in repr(accounts)
    await accounts.aclose()


async def test_many_wrong_callers_never_push_out_a_real_one(tmp_path: Path) -> None:
    accounts, _ = shared(tmp_path)
    real = await accounts.session(caller("USER", "user-token"))
    assert real.history.store is not None
    for n in range(accounts_module.MAX_ACCOUNTS + 44):
        with pytest.raises(AuthenticationFailed):
            await accounts.session(caller(f"stranger-{n}", f"guess-{n}"))
    assert await accounts.session(caller("USER", "user-token")) is real
    assert real.history.store.count() == 0  # still open and usable
    await accounts.aclose()


async def test_a_revoked_token_is_refused_once_its_check_has_expired(tmp_path: Path) -> None:
    accounts, emulator = shared(tmp_path)
    clock = accounts._state.clock = FakeClock(T0)
    session = await accounts.session(caller("USER", "user-token"))
    emulator.workspace.users["USER"].token_hash = None  # the user revokes the token on the server
    clock.ms += accounts_module.VERIFIED_FOR_MS - 1
    assert await accounts.session(caller("USER", "user-token")) is session  # trusted for a while: no /me
    me_calls = len(emulator.requests_to("/api/v1/me"))
    clock.ms += 1
    with pytest.raises(AuthenticationFailed):  # search_history alone never asks the server: this must
        await accounts.session(caller("USER", "user-token"))
    assert len(emulator.requests_to("/api/v1/me")) == me_calls + 1
    await accounts.aclose()


async def test_an_evicted_session_takes_its_verification_along(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts_module, "MAX_ACCOUNTS", 2)
    accounts, emulator = shared(tmp_path)
    for name in ("u1", "u2", "u3"):
        emulator.workspace.add_user(name, token=f"{name}-token", user_id=name.upper())
        await accounts.session(caller(name.upper(), f"{name}-token"))
    assert len(accounts._sessions) == 2 and set(accounts._verified) == set(accounts._sessions)
    await accounts.aclose()


async def test_an_accounts_first_calls_together_open_one_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate()
    monkeypatch.setattr(accounts_module, "open_history", gate)
    accounts, _ = shared(tmp_path)
    sessions: list[Session] = []

    async def call() -> None:
        sessions.append(await accounts.session(caller("USER", "user-token")))

    async with anyio.create_task_group() as tg:
        try:  # the gate opens whatever happens: the task group waits for the worker thread
            for _ in range(5):
                tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()  # every call is past its check, one of them opening
            assert gate.opened == ["USER"]
        finally:
            gate.release.set()
    assert len(sessions) == 5 and all(s is sessions[0] for s in sessions)
    await accounts.aclose()


async def test_a_new_caller_opening_its_history_holds_up_no_one_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts, _ = shared(tmp_path)
    known = await accounts.session(caller("ADMIN", "admin-token"))
    gate = Gate()
    monkeypatch.setattr(accounts_module, "open_history", gate)
    served: list[Session] = []

    async def known_call() -> None:
        served.append(await accounts.session(caller("ADMIN", "admin-token")))

    async with anyio.create_task_group() as tg:
        try:  # the gate opens whatever happens: the task group waits for the worker thread
            tg.start_soon(accounts.session, caller("USER", "user-token"))
            await anyio.wait_all_tasks_blocked()
            assert gate.opened == ["USER"]  # the new caller's history is opening, and stays so
            tg.start_soon(known_call)
            await anyio.wait_all_tasks_blocked()
            assert served == [known]  # answered while the other history was still opening
        finally:
            gate.release.set()
    await accounts.aclose()
