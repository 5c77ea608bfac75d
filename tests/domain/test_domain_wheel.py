"""From a fresh venv with a non-editable install (the wheel), `switchyard init my-pack`, then
`--domain my-pack setup` and `demo` work: the bundled packs ship as package data.

The wheel is built from this checkout and installed with --no-deps into a new venv; its
dependencies come from the test venv's site-packages through a .pth line (installing torch and
the rest again would take minutes and the network). That line adds the directory only: the test
venv's editable-install hook is not loaded, so `switchyard` is the installed wheel's."""

from __future__ import annotations

import os
import site
from pathlib import Path

import pytest
from support.wheel_venv import install_wheel, run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]


def test_init_setup_and_demo_from_a_non_editable_install(tmp_path: Path,
                                                         switchyard_home: Path) -> None:
    venv = install_wheel(tmp_path, [Path(p) for p in site.getsitepackages()])
    py, purelib = venv.python, venv.purelib

    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "SWITCHYARD_HOME": str(tmp_path / "home"), "SWITCHYARD_OFFLINE": "true",
           "LANGSMITH_TRACING": "false", "PYTHONPATH": ""}
    env.pop("SWITCHYARD_DOMAIN", None)
    where = run([str(py), "-c", "import switchyard, switchyard.domains as d; "
                 "print(switchyard.__file__); print(d.__file__)"], cwd=work, env=env).stdout
    assert str(purelib) in where and str(ROOT) not in where  # the wheel, not the checkout
    if (switchyard_home / "models").is_dir():  # reuse the session's exported encoder
        import shutil

        shutil.copytree(switchyard_home / "models", tmp_path / "home" / "models")
    exe = venv.switchyard
    run([exe, "init", "my-pack"], cwd=work, env=env)
    setup = run([exe, "--domain", "my-pack", "setup"], cwd=work, env=env)
    assert "3 articles" in setup.stdout
    demo = run([exe, "--domain", "my-pack", "demo"], cwd=work, env=env)
    assert "help.larkspur.example" in demo.stdout and "Quillstack" not in demo.stdout
    # The bundled default pack ships too.
    default = run([exe, "ask", "I forgot my password"], cwd=work, env=env)
    assert "help.quillstack.example" in default.stdout
