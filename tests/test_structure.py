"""The house rules of docs/development.md, read from its layer table: imports flow one way (a module
imports from its own layer or the ones above it, never in a cycle, lazy imports included), the
emulator imports nothing from rc-mcp, and no function is over 60 lines."""

from __future__ import annotations

import ast
import importlib.util
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rc_mcp"
MAX_FUNCTION_LINES = 60
# Beside the layers: the emulator stands in for Rocket.Chat, testing and the pytest plugin serve users' tests.
BESIDE = {"emulator", "testing", "pytest_plugin", "__init__"}
ENTRY_POINTS = "entry points"


@cache
def layers() -> dict[str, tuple[int, str]]:
    """Module → (rank, layer name), from the table under "## Layout"."""
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    table = text[text.index("| layer | modules |") :].split("\n\n", 1)[0]
    ranks: dict[str, tuple[int, str]] = {}
    for rank, row in enumerate(table.splitlines()[2:]):
        _, layer, modules, _ = row.split("|")
        for module in re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", modules)):
            ranks[module] = (rank, layer.strip())
    return ranks


def imported(path: Path) -> set[str]:
    """The rc_mcp modules ``path`` imports anywhere in it (first component under rc_mcp), relative
    imports and ``from rc_mcp import x`` included; ``__init__`` for the package itself."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            module = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            names = [f"{module}.{alias.name}" for alias in node.names] if module == "rc_mcp" else [module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        parts = [name.split(".") for name in names if name.split(".")[0] == "rc_mcp"]
        found.update(part[1] if len(part) > 1 else "__init__" for part in parts)
    return found - {"__version__"}


def graph() -> dict[str, set[str]]:
    return {path.stem: imported(path) for path in sorted(PACKAGE.glob("*.py"))}


def test_the_table_names_every_module_once() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")} - BESIDE
    assert set(layers()) == modules


def test_imports_flow_one_way() -> None:
    ranks = layers()
    upward = [
        f"{module} ({ranks[module][1]}) imports {target} ({ranks[target][1]})"
        for module, targets in graph().items()
        if module in ranks
        for target in targets
        if target in ranks and ranks[target][0] > ranks[module][0]
    ]
    assert upward == []


def test_no_import_cycle() -> None:
    edges = graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(module) :], module]))
        if module in done or module not in edges:
            return
        for target in sorted(edges[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in edges:
        visit(module, [])


def test_only_entry_points_and_testing_reach_the_emulator() -> None:
    ranks = layers()
    reaching = {
        module
        for module, targets in graph().items()
        if targets & {"emulator", "testing", "pytest_plugin"} and module not in BESIDE
    }
    assert all(ranks[module][1] == ENTRY_POINTS for module in reaching), reaching
    for path in (PACKAGE / "emulator").glob("*.py"):
        outside = {t for t in imported(path) if t != "emulator"}
        assert outside == set(), f"{path.name} imports {outside}: the emulator shares no code with rc-mcp"


def test_no_function_is_over_60_lines() -> None:
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []
