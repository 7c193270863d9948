"""``@username``, ``@all`` and ``@here`` in a message's text, found the way the server finds them.

Rocket.Chat's ``MentionsParser`` (apps/meteor/app/mentions/lib/MentionsParser.ts, newest form, read
from source): markdown links are removed first, then this regex runs over the text with the
default username pattern of the ``UTF8_User_Names_Validation`` setting. ``MentionsServer`` then
trims each match and drops its first character (meant to be the ``@``; with a ``>`` prefix the
``@`` survives and the mention matches no user: an upstream quirk, kept). ``all``/``here`` become
``{_id, username}``; other names are looked up among *all* users (not only room members) and
become ``{_id, username, name, type: 'user'}``.
"""

from __future__ import annotations

import re

_NAME = r"[0-9a-zA-Z_.\-]+"
_USER_MENTION = re.compile(rf"(^|\s|>)@({_NAME}(@({_NAME}))?(:([0-9a-zA-Z_.\-]+))?)", re.MULTILINE)
_MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\([^)]+\)")
GROUP_MENTIONS = ("all", "here")


def mentioned_names(text: str) -> list[str]:
    """The mentioned names in order of appearance, duplicates kept (the server dedupes users later)."""
    stripped = _MARKDOWN_LINK.sub("", text)
    return [match.group(0).strip()[1:] for match in _USER_MENTION.finditer(stripped)]
