"""The layers import one way (pyproject.toml's import-linter contract): core <- models, encoder
<- cache, classifier <- tools, knowledge <- agents <- graph <- front door <- service, bench <- CLI.

import-linter's ``layers`` contract (in pyproject.toml) runs on the package as it installs: the
repository's folders are laid out under one ``switchyard`` package in a temporary directory (the
editable install maps them there on import, which import-linter's file walk cannot see).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The folders the wheel maps into the one ``switchyard`` namespace, as pyproject.toml declares.
MAPPED = {name.removeprefix("switchyard."): folder for name, folder in tomllib.loads(
    (ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].items()}


def _installed_layout(target: Path) -> Path:
    pkg = target / "switchyard"
    shutil.copytree(ROOT / "switchyard", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    for sub, folder in MAPPED.items():
        shutil.copytree(ROOT / folder, pkg / sub,
                        ignore=shutil.ignore_patterns("__pycache__", "*.md", "*.json", "*.jsonl",
                                                      "*.txt", "articles", "eval", "routing"))
    return target


def test_import_linter_layers_contract_holds(tmp_path: Path) -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    if not lint.exists():
        pytest.fail("import-linter is part of the dev extra: pip install -e '.[dev]'")
    layout = _installed_layout(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(layout)}
    out = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "1 kept, 0 broken" in out.stdout
