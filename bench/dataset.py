"""A realistic room for benchmarks: 100 messages shaped like a real server's (md AST, mentions,
URL previews, threads, reactions, edits, files, system messages), generated from a fixed seed.

Mix of texts: about 45% short replies, 25% one-line updates, 12% paragraphs of 30-45 words, 10%
mentions with a link preview (with the meta tags real servers store), 4% image uploads (with the
base64 thumbnail real servers attach), 4% system messages; 20% get a reaction, 8% an edit, 15%
are thread replies."""

from __future__ import annotations

import random

from rc_mcp.emulator import Workspace
from rc_mcp.emulator.seed import at

PEOPLE = ["alice", "bob", "carol", "dmitri", "erin", "farid", "grace", "hiro"]
SHORT = [
    "ok",
    "thanks!",
    "on it",
    "+1",
    "lgtm",
    "done ✅",
    "which branch?",
    "back in 10",
    "sounds good to me",
    "can you share the logs?",
    "merged",
    "I'll take a look after standup",
]
MEDIUM = [
    "the deploy to staging is done, smoke tests pass",
    "can someone with prod access check the queue depth on worker-3?",
    "I moved the retro to Thursday 15:00 UTC because of the holiday",
    "FYI the flaky test is test_sync_backoff, it fails about 1 in 20 runs",
    "pushed a fix, CI should be green in ~10 minutes",
    "does anyone know why the nightly export job was skipped yesterday?",
    "reviewed, two small comments on naming, otherwise good to go",
    "the customer confirmed the fix works on their side 🎉",
]
LONG = [
    "I looked into the timeout: the retry loop in the sync worker doesn't back off, so when the upstream is "
    "slow we hammer it with 20 requests a second. I'd add exponential backoff with jitter and cap it at 30 s.",
    "Summary of today's incident: at 08:52 UTC the EU load balancer started failing health checks after the "
    "certificate rotation. We rolled back at 09:14 and traffic recovered by 09:20. Postmortem draft to follow.",
    "Proposal for the Q1 roadmap: 1) finish the search rewrite, 2) move notifications to the new queue, "
    "3) deprecate the v1 export API. Please comment in the doc before Friday so we can lock scope.",
    "Heads-up: the staging database will be restored from last night's snapshot at 14:00 UTC, so anything "
    "you wrote there today will be gone. Ping me if you need something preserved.",
]
LINKS = [
    "https://github.com/acme/api/pull/{n}",
    "https://docs.acme.dev/runbooks/{n}",
    "https://grafana.acme.dev/d/{n}",
]


def _preview_meta(url: str) -> dict[str, str]:
    """The meta tags Rocket.Chat stores for a link preview, as a GitHub-like page publishes them."""
    title = "Fix retry backoff in sync worker by hiro · Pull Request · acme/api"
    description = "The retry loop did not back off, so a slow upstream got 20 requests a second."
    return {
        "pageTitle": title,
        "description": description,
        "ogTitle": title,
        "ogDescription": description,
        "ogImage": "https://opengraph.githubassets.com/4f1c2e/acme/api/pull/1",
        "ogImageAlt": title,
        "ogImageWidth": "1200",
        "ogImageHeight": "600",
        "ogSiteName": "GitHub",
        "ogType": "object",
        "ogUrl": url,
        "twitterCard": "summary_large_image",
        "twitterSite": "@github",
        "twitterTitle": title,
        "twitterDescription": description,
        "twitterImageSrc": "https://opengraph.githubassets.com/4f1c2e/acme/api/pull/1",
    }


def _thumbnail(rng: random.Random) -> str:
    """Rocket.Chat stores a tiny blurred JPEG preview of uploaded images as base64 (~1 KB)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return "/9j/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYWICwgIyYnKSopGR8tMC0oMCUoKSj" + "".join(
        rng.choice(alphabet) for _ in range(900)
    )


def realistic_room(seed: int = 1, messages: int = 100) -> tuple[Workspace, str, str, str]:
    """A workspace with one busy room; returns (workspace, room id, user id, token)."""
    rng = random.Random(seed)
    ws = Workspace(seed=seed)
    agent = ws.add_user("agent", token="bench-token")
    for name in PEOPLE:
        ws.add_user(name, name=name.capitalize() + " " + rng.choice(["Smith", "Okafor", "Nguyen", "Sokolov"]))
    room = ws.add_room("engineering", room_id="ENG")
    posted: list[str] = []
    for i in range(messages):
        who = rng.choice(PEOPLE)
        kind = rng.random()
        extra: dict[str, object] = {}
        tmid = rng.choice(posted[-10:]) if posted and rng.random() < 0.15 else None
        if kind < 0.45:
            text = rng.choice(SHORT)
        elif kind < 0.70:
            text = rng.choice(MEDIUM)
        elif kind < 0.82:
            text = rng.choice(LONG)
        elif kind < 0.92:
            mate = rng.choice(PEOPLE)
            url = rng.choice(LINKS).format(n=rng.randrange(100, 999))
            text = f"@{mate} can you review {url} ?"
            mentioned = ws.user_by_name(mate)
            extra = {
                "mentions": [{"_id": mentioned.id, "username": mate, "name": mentioned.name, "type": "user"}],
                "urls": [
                    {
                        "url": url,
                        "meta": _preview_meta(url),
                        "headers": {
                            "contentType": "text/html; charset=utf-8",
                            "contentLength": str(rng.randrange(20_000, 90_000)),
                        },
                    }
                ],
                "md": [
                    {
                        "type": "PARAGRAPH",
                        "value": [
                            {"type": "MENTION_USER", "value": {"type": "PLAIN_TEXT", "value": mate}},
                            {"type": "PLAIN_TEXT", "value": " can you review "},
                            {
                                "type": "LINK",
                                "value": {
                                    "src": {"type": "PLAIN_TEXT", "value": url},
                                    "label": [{"type": "PLAIN_TEXT", "value": url}],
                                },
                            },
                            {"type": "PLAIN_TEXT", "value": " ?"},
                        ],
                    }
                ],
            }
        elif kind < 0.96:
            text = "screenshot of the dashboard"
            name = f"dashboard-{i}.png"
            file = {"_id": f"F{i}", "name": name, "type": "image/png", "size": rng.randrange(20_000, 900_000)}
            extra = {
                "attachments": [
                    {
                        "ts": "1970-01-01T00:00:00.000Z",
                        "type": "file",
                        "title": name,
                        "title_link": f"/file-upload/F{i}/{name}",
                        "title_link_download": True,
                        "image_url": f"/file-upload/F{i}/{name}",
                        "image_type": "image/png",
                        "image_size": file["size"],
                        "image_dimensions": {"width": 1280, "height": 720},
                        "image_preview": _thumbnail(rng),
                        "description": "",
                    }
                ],
                "file": file,
                "files": [file],
            }
        else:
            ws.post(room.id, who, "", t=rng.choice(["uj", "ul", "room_changed_topic"]), at=at(i))
            continue
        msg = ws.post(room.id, who, text, tmid=tmid, extra=extra, at=at(i))
        posted.append(msg)
        if rng.random() < 0.2:
            ws.react(msg, rng.choice(PEOPLE), rng.choice([":+1:", ":tada:", ":eyes:"]), at=at(i + 0.5))
        if rng.random() < 0.08:
            ws.edit(msg, text + " (edited: fixed link)", at=at(i + 0.7))
    return ws, room.id, agent.id, "bench-token"
