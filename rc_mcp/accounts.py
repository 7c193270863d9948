"""Whose account a tool call runs as.

Over stdio, and over HTTP when the environment names an account, every call runs as that one
account. A shared HTTP server serves a team instead: each request carries the caller's own
Rocket.Chat credentials (``X-User-Id`` and ``X-Auth-Token``, Rocket.Chat's own header names), and
gets a session of its own, with its own local history. No account can read another's history: the
credentials are checked with the server (``/api/v1/me``) before a session or a history is made for
them, and the check is remembered briefly, keyed by a hash of the token, never the token itself.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING

import anyio

from rc_mcp.client import RocketChatClient
from rc_mcp.config import TOKEN_HEADER, USER_ID_HEADER, Settings
from rc_mcp.errors import AuthenticationFailed
from rc_mcp.history import History
from rc_mcp.paging import ServerState
from rc_mcp.session import Session
from rc_mcp.store import FILE_NAME, open_store

if TYPE_CHECKING:
    import httpx  # annotations only: importing it costs start-up

log = logging.getLogger(__name__)

# How long a successful credentials check is trusted, and how many callers' sessions are kept.
VERIFIED_FOR_MS = 60_000
MAX_ACCOUNTS = 256


class NoAccount(Exception):
    """A shared server got a call that names no Rocket.Chat account."""

    def __init__(self) -> None:
        super().__init__(
            f"this rc-mcp is shared and serves each caller as their own Rocket.Chat user: send the {USER_ID_HEADER} "
            f"and {TOKEN_HEADER} headers with every request (a personal access token and its user id)."
        )


def open_history(settings: Settings) -> History:
    """The local history of one account; history off, with the reason said once, when it cannot be used."""
    if settings.state_dir is None:
        return History(None)
    opening = open_store(
        settings.state_dir / FILE_NAME,
        settings.account,
        max_messages=settings.store_max_messages,
        max_age_days=settings.store_max_age_days,
    )
    if opening.problem:
        log.warning("%s", opening.problem)
    return History(opening.store, opening.problem)


class Accounts:
    """The sessions this server runs calls in: the one account of the environment, or one per caller.

    A caller's credentials are checked before anything of theirs exists: a rejected caller gets no
    session and opens no history, so wrong credentials can neither write to the state file nor push
    a real user's session out of the ``MAX_ACCOUNTS`` kept. Everything here runs on the event loop,
    so a look-up and an insert with no ``await`` between them cannot interleave with another call:
    no lock is needed for a session that exists, and none is held while a history opens.
    """

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self._transport = transport
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        # One server state for every caller: the server counts its rate limit per address.
        self._state = ServerState()
        # Until when each session's credentials are trusted (ms); an entry lives and dies with its session.
        self._verified: dict[str, int] = {}
        # The sessions being opened, so that an account's first calls arriving together open one history.
        self._opening: dict[str, anyio.Event] = {}

    @classmethod
    def of(cls, session: Session) -> Accounts:
        """Every call runs in ``session`` (tests and plain Python)."""
        accounts = cls(session.settings)
        accounts._sessions[""] = session
        return accounts

    async def session(self, headers: Mapping[str, str] | None) -> Session:
        """The session of the account this call runs as (``headers``: the HTTP request's, if any)."""
        if self.settings.has_account or "" in self._sessions:
            return await self._open("", self.settings)
        user_id = (headers or {}).get(USER_ID_HEADER.lower(), "").strip()
        token = (headers or {}).get(TOKEN_HEADER.lower(), "").strip()
        if not user_id or not token:
            raise NoAccount()
        key = hashlib.sha256(f"{user_id}\0{token}".encode()).hexdigest()
        now = self._state.clock.now_ms()
        session = self._sessions.get(key)
        if session is not None and self._verified.get(key, 0) > now:
            self._sessions.move_to_end(key)
            return session
        settings = self.settings.for_account(user_id, token)
        await self._verify(settings, session)
        session = await self._open(key, settings)
        if self._sessions.get(key) is session:  # not evicted meanwhile: else its entry would outlive it
            self._verified[key] = now + VERIFIED_FOR_MS
        return session

    async def _verify(self, settings: Settings, session: Session | None) -> None:
        """Check the credentials with the server, before this caller gets anything. A caller without a
        session yet is checked with a client of its own, closed at once: no history is opened for
        credentials the server rejects."""
        if session is not None:
            me = await session.client.me()
        else:
            async with RocketChatClient(settings, transport=self._transport) as client:
                me = await client.me()
        if me.get("_id") != settings.user_id:
            raise AuthenticationFailed(f"the token does not belong to the user named in {USER_ID_HEADER}")

    async def _open(self, key: str, settings: Settings) -> Session:
        """The session of ``key``, opening it if there is none; once, however many calls ask at once."""
        while True:
            session = self._sessions.get(key)
            if session is not None:
                self._sessions.move_to_end(key)
                return session
            opening = self._opening.get(key)
            if opening is None:
                return await self._create(key, settings)
            await opening.wait()  # another call is opening it: take that one (or open it, if that failed)

    async def _create(self, key: str, settings: Settings) -> Session:
        done = self._opening[key] = anyio.Event()
        # Shielded: a call cancelled (its deadline) while the history opens in a worker thread would
        # leave an open file that no session owns, or an evicted session's client unclosed.
        with anyio.CancelScope(shield=True):
            try:
                history = await anyio.to_thread.run_sync(open_history, settings)
                session = Session(settings, transport=self._transport, history=history, state=self._state)
                self._sessions[key] = session
            finally:
                del self._opening[key]
                done.set()
            while len(self._sessions) > MAX_ACCOUNTS:
                evicted_key, evicted = self._sessions.popitem(last=False)
                self._verified.pop(evicted_key, None)
                await _close(evicted)
        return session

    async def aclose(self) -> None:
        for session in self._sessions.values():
            await _close(session)
        self._sessions.clear()
        self._verified.clear()


async def _close(session: Session) -> None:
    await session.client.aclose()
    if session.history.store is not None:
        session.history.store.close()
