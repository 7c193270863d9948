"""What we publish: the wheel carries everything an installed rc-mcp needs (prompts, license, entry
points, declared dependencies), the sdist carries the sources needed to rebuild and test it, and the
rc_emulator fixture loads in users' test suites with or without a ``pytest_plugins`` line."""

from __future__ import annotations

import email
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Built:
    sdist: Path
    wheel: Path


def hatchling_build(source: Path, out: Path, *targets: str) -> None:
    flags = [arg for target in targets for arg in ("-t", target)]
    done = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", *flags, "-d", str(out)],
        cwd=source, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("dist")
    hatchling_build(ROOT, out, "sdist", "wheel")
    (sdist,) = out.glob("rc_mcp-*.tar.gz")
    (wheel,) = out.glob("rc_mcp-*.whl")
    return Built(sdist, wheel)


@pytest.fixture(scope="module")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel unpacked by pip into a directory of its own (no dependencies: this venv has them)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(built.wheel)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return target


def test_wheel_ships_prompts_and_they_load_from_it(built: Built, installed: Path, tmp_path: Path) -> None:
    names = zipfile.ZipFile(built.wheel).namelist()
    assert "rc_mcp/prompts/catch_up.md" in names and "rc_mcp/prompts/audit_deletions.md" in names
    assert "rc_mcp/py.typed" in names
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import rc_mcp.prompts as p;"
        "assert p.__file__.startswith(sys.argv[1]), p.__file__;"
        "print(sorted(t.name for t in p.load_prompts()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(installed)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['audit_deletions', 'catch_up', 'what_did_i_miss']"


def test_wheel_metadata_is_complete(built: Built) -> None:
    wheel = zipfile.ZipFile(built.wheel)
    info = "rc_mcp-0.1.0.dist-info"
    meta = email.message_from_string(wheel.read(f"{info}/METADATA").decode())
    assert meta["Metadata-Version"] == "2.4"
    assert meta["License-Expression"] == "MIT"
    assert f"{info}/licenses/LICENSE" in wheel.namelist()
    assert "MIT License" in wheel.read(f"{info}/licenses/LICENSE").decode()
    required = meta.get_all("Requires-Dist") or []
    for name in ("mcp", "httpx", "pydantic", "anyio", "starlette", "uvicorn"):  # every package rc_mcp imports
        assert any(r.startswith(name) and "extra ==" not in r for r in required), name
    assert any(r.startswith("pytest") and "extra == 'testing'" in r for r in required)
    assert set(meta.get_all("Provides-Extra") or []) == {"testing", "dev"}
    classifiers = meta.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers and "Topic :: Communications :: Chat" in classifiers
    assert {f"Programming Language :: Python :: 3.{minor}" for minor in (11, 12, 13)} <= set(classifiers)
    assert not [c for c in classifiers if c.startswith("License ::")]  # superseded by License-Expression
    assert meta["Requires-Python"] == ">=3.11"
    assert any(url.startswith("Repository, https://") for url in meta.get_all("Project-URL") or [])
    entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert "rc-mcp = rc_mcp.__main__:main" in entry_points
    assert "[pytest11]\nrc_mcp.pytest_plugin = rc_mcp.pytest_plugin" in entry_points


def test_sdist_has_the_sources_and_rebuilds_the_same_wheel(built: Built, tmp_path: Path) -> None:
    with tarfile.open(built.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
        if hasattr(tarfile, "data_filter"):  # 3.11.4+; without a filter 3.12+ warns
            sdist.extractall(tmp_path, filter="data")
        else:  # pragma: no cover
            sdist.extractall(tmp_path)
    for needed in (
        "LICENSE", "README.md", "pyproject.toml", "PKG-INFO", "rc_mcp/py.typed", "prompts/catch_up.md",
        "tests/conftest.py", "tests/golden", "bench/tokens.py", "docs/install.md", "scripts/check",
    ):  # fmt: skip
        assert needed in names or any(n.startswith(needed + "/") for n in names), needed
    assert not [n for n in names if n.startswith((".venv/", "dist/", "node_modules/")) or "__pycache__" in n]
    # What pip does with an sdist: build the wheel from it. It must hold the same files as ours.
    (unpacked,) = tmp_path.glob("rc_mcp-*")
    hatchling_build(unpacked, tmp_path / "dist", "wheel")
    (rebuilt,) = (tmp_path / "dist").glob("rc_mcp-*.whl")
    assert sorted(zipfile.ZipFile(rebuilt).namelist()) == sorted(zipfile.ZipFile(built.wheel).namelist())


USER_TEST = """
def test_uses_the_fixture(rc_emulator):
    assert rc_emulator.url.startswith("http://127.0.0.1:")
    assert rc_emulator.env["ROCKETCHAT_MCP_STATE_DIR"] == str(rc_emulator.state_dir)
"""


@pytest.mark.parametrize(
    ("conftest", "autoload", "extra", "outcome"),
    [
        pytest.param(False, True, [], "1 passed", id="entry-point-alone"),
        pytest.param(True, True, [], "1 passed", id="entry-point-and-pytest_plugins-line"),
        pytest.param(True, False, [], "1 passed", id="pytest_plugins-line-alone"),
        pytest.param(False, True, ["-p", "no:rc_mcp.pytest_plugin"], "fixture 'rc_emulator' not found", id="opt-out"),
    ],
)
def test_users_get_the_fixture_either_way(
    installed: Path, tmp_path: Path, conftest: bool, autoload: bool, extra: list[str], outcome: str
) -> None:
    """A user's project with the built wheel installed: the fixture loads once, whichever way it is asked for."""
    (tmp_path / "test_agent.py").write_text(USER_TEST, encoding="utf-8")
    if conftest:
        (tmp_path / "conftest.py").write_text('pytest_plugins = ["rc_mcp.pytest_plugin"]\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "ROCKETCHAT_"))}
    env["PYTHONPATH"] = str(installed)  # ahead of this checkout's editable install
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider", *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert outcome in done.stdout, done.stdout + done.stderr
    assert "already registered" not in done.stdout + done.stderr
