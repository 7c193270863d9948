"""The wheel carries everything an installed rc-mcp needs, prompts included."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_prompts_and_they_load_from_it(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path / "dist")],
        cwd=ROOT, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("rc_mcp-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "rc_mcp/prompts/catch_up.md" in names and "rc_mcp/prompts/audit_deletions.md" in names
    assert "rc_mcp/py.typed" in names
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import rc_mcp.prompts as p;"
        "assert p.__file__.startswith(sys.argv[1]), p.__file__;"
        "print(sorted(t.name for t in p.load_prompts()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(target)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['audit_deletions', 'catch_up', 'what_did_i_miss']"
