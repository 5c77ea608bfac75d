"""The documentation holds together: the README is short and carries the two set-up commands
verbatim, and the MkDocs site builds with ``--strict`` (a link to a missing page or anchor fails).

Uses the ``mkdocs`` of the venv running the tests (the ``dev`` extra installs it); imports nothing
from switchyard.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_README_LINES = 200

RUN_COMMAND = (
    'python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 && .venv/bin/pip install -e ".[export]" '
    "&& .venv/bin/switchyard setup && .venv/bin/switchyard demo"
)
TEST_COMMAND = (
    'python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 && .venv/bin/pip install -e ".[dev]" '
    "&& bash scripts/install-local-model.sh && .venv/bin/pytest -q"
)


def mkdocs_executable() -> str:
    exe = Path(sys.executable).parent / "mkdocs"
    if not exe.exists():
        pytest.fail(f"{exe} is missing: install the dev extra (pip install -e '.[dev]')")
    return str(exe)


def build(config: Path, site_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [mkdocs_executable(), "build", "--strict", "--config-file", str(config),
         "--site-dir", str(site_dir)],
        cwd=config.parent, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    result = build(ROOT / "mkdocs.yml", site_dir)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}{result.stderr}"
    return site_dir


def test_the_site_builds_strictly(site: Path) -> None:
    assert (site / "index.html").exists()
    for page in ("architecture", "classifier", "cache", "models", "local-models", "service",
                 "deploying", "measurements"):
        assert (site / page / "index.html").exists(), f"docs/{page}.md is missing from the site"


@pytest.mark.parametrize("broken", ["[gone](no-such-page.md)", "[gone](cache.md#no-such-anchor)"])
def test_a_broken_link_fails_the_build(tmp_path: Path, broken: str) -> None:
    # The same config on a copy of the pages with one bad link: the build must refuse it.
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    page = tmp_path / "docs" / "index.md"
    page.write_text(page.read_text() + f"\n{broken}\n")
    result = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0, "a broken link passed mkdocs build --strict"


def test_readme_is_short_and_has_both_commands_verbatim() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= MAX_README_LINES
    lines = text.splitlines()
    assert RUN_COMMAND in lines, "the install-and-run command changed or is gone"
    assert TEST_COMMAND in lines, "the install-and-test command changed or is gone"


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_links_reach_built_pages_and_anchors(site: Path) -> None:
    links = re.findall(r"\]\((docs/[^)#\s]+\.md)(?:#([^)\s]+))?\)", README.read_text())
    assert links, "the README links to no topic page"
    for target, anchor in links:
        assert (ROOT / target).exists(), f"README links to missing {target}"
        if anchor:
            html = site / Path(target).relative_to("docs").with_suffix("") / "index.html"
            if Path(target).name == "index.md":
                html = site / "index.html"
            assert f'id="{anchor}"' in html.read_text(), f"README links to missing {target}#{anchor}"
