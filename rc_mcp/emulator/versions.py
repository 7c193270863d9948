"""Which Rocket.Chat release behaves how: the gates the emulator needs, and ``GET /api/info``.

Facts from docs/research/rocketchat-versions.md (cited as "versions §n") and the reference
(shared/reference/rocketchat-syncmessages.md, "reference §n"):

* before 7.1 ``chat.syncMessages`` knows only ``roomId`` and ``lastUpdate`` (versions §1);
* 7.1 adds cursors (``next``/``previous``/``count``/``type``, versions §1.4);
* 8.8 serves the route through the typed router and adds ``fromTs`` (versions §3, reference §3.4).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

DEFAULT_VERSION = "7.10.0"
# rocketchat.info of an 8.0.0 build (read from source); the values are only examples of the shape.
MINIMUM_CLIENT_VERSIONS = {"desktop": "3.9.6", "mobile": "4.39.0"}

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> Version:
        """``"7.10.0"``, ``"8.8"`` or ``"7.1.0-rc.2"`` (pre-release tags are ignored)."""
        match = _VERSION.match(text.strip())
        if match is None:
            raise ValueError(f"not a Rocket.Chat version: {text!r} (expected e.g. '7.10.0')")
        return cls(int(match[1]), int(match[2]), int(match[3] or 0))

    @property
    def has_cursors(self) -> bool:
        """``chat.syncMessages`` takes ``next``/``previous``/``count``/``type`` (7.1.0+, versions §1.4)."""
        return self >= Version(7, 1)

    @property
    def typed_router(self) -> bool:
        """Served by the typed router, which also knows ``fromTs`` (8.8.0+, reference §1, versions §3)."""
        return self >= Version(8, 8)


def trimmed(version: str) -> str:
    """``Info.version.replace(/(\\d+\\.\\d+).*/, '$1')``: what unprivileged callers see (versions §2.1)."""
    return re.sub(r"(\d+\.\d+).*", r"\1", version, count=1)


def info_body(version: str, *, privileged: bool, workspace_url: str) -> dict[str, Any]:
    """The ``GET /api/info`` answer (versions §2.1, ``getServerInfo``).

    Nobody needs to log in: anonymous callers get "X.Y". Users with ``view-statistics`` (by default
    the admin role) also get ``info`` and the full version. 8.0+ answers with the newest
    ``getServerInfo`` shape (workspace URL fields); 6.x/7.x with the older one. Where exactly
    between 7.x and 8.x the shape changed is not known (versions §2.1 marks the ranges [I]).
    Not modelled: ``supportedVersions`` (only sent by cloud-registered workspaces) and
    ``cloudWorkspaceId`` (unset, so JSON leaves it out).
    """
    body: dict[str, Any] = {}
    if Version.parse(version) >= Version(8, 0):
        body["workspaceUrl"] = workspace_url
        body["hashedWorkspaceUrl"] = hashlib.sha256(workspace_url.encode()).hexdigest()
    body["version"] = trimmed(version)
    if privileged:
        # The real Info also carries build and commit details; the version is what clients read.
        body["info"] = {"version": version}
        body["version"] = version
    body["minimumClientVersions"] = MINIMUM_CLIENT_VERSIONS
    body["success"] = True
    return body
