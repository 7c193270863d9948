"""Prompt templates: Markdown files in ``prompts/`` served as MCP prompts.

A template starts with ``key: value`` lines (``title``, ``description``, and one
``argument: name | required|optional | description`` line per argument), then a ``---`` line, then
the body, where ``{{name}}`` is replaced by the argument's value.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

NOT_GIVEN = "not given"


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
        text = self.body
        for argument in self.arguments:
            text = text.replace("{{" + argument.name + "}}", values.get(argument.name) or NOT_GIVEN)
        return text


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
