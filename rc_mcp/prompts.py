"""Prompt templates: Markdown files in ``prompts/`` served as MCP prompts.

A template starts with ``key: value`` lines (``title``, ``description``, and one
``argument: name | required|optional | description`` line per argument), then a ``---`` line, then
the body, where ``{{name}}`` is replaced by the argument's value, ``{{#name}}…{{/name}}`` is kept
only when the argument was given and ``{{^name}}…{{/name}}`` only when it was not, so the model
reads one set of instructions, not a branch to choose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

_SECTION = re.compile(r"\{\{([#^])(\w+)\}\}(.*?)\{\{/\2\}\}", re.S)


@dataclass(frozen=True)
class PromptArgumentSpec:
    name: str
    required: bool
    description: str


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    title: str
    description: str
    arguments: tuple[PromptArgumentSpec, ...]
    body: str

    def render(self, values: dict[str, str]) -> str:
        missing = [a.name for a in self.arguments if a.required and not values.get(a.name)]
        if missing:
            raise ValueError(f"missing required argument(s): {', '.join(missing)}")
        given = {a.name: values.get(a.name, "").strip() for a in self.arguments}

        def section(match: re.Match[str]) -> str:
            kind, name, inner = match.groups()
            return inner if bool(given.get(name)) == (kind == "#") else ""

        text = _SECTION.sub(section, self.body)
        for name, value in given.items():
            text = text.replace("{{" + name + "}}", value)
        return re.sub(r"\n{3,}", "\n\n", text)


def prompts_dir() -> Traversable:
    """The templates: packaged into the wheel as ``rc_mcp/prompts``, or the checkout's ``prompts/``."""
    packaged = resources.files("rc_mcp") / "prompts"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "prompts"


def load_prompts(folder: Traversable | None = None) -> list[PromptTemplate]:
    folder = folder or prompts_dir()
    found = sorted((f for f in folder.iterdir() if f.name.endswith(".md")), key=lambda f: f.name)
    if not found:
        raise FileNotFoundError(f"no prompt templates in {folder}")
    return [parse(f.name.removesuffix(".md"), f.read_text(encoding="utf-8")) for f in found]


def parse(name: str, text: str) -> PromptTemplate:
    head, separator, body = text.partition("\n---\n")
    if not separator:
        raise ValueError(f"prompt {name}: missing the '---' line between header and body")
    fields: dict[str, str] = {}
    arguments = []
    for line in head.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "argument":
            arg_name, need, description = (part.strip() for part in value.split("|", 2))
            arguments.append(PromptArgumentSpec(arg_name, need == "required", description))
        elif key.strip():
            fields[key.strip()] = value.strip()
    return PromptTemplate(name, fields["title"], fields["description"], tuple(arguments), body.strip() + "\n")
