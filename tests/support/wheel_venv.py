"""This checkout built as a wheel and installed (--no-deps) into a fresh venv: what a person
gets from a non-editable install. Its dependencies come from a directory the caller names,
added to the venv with a .pth line (installing torch and the rest again would take minutes and
the network); the test venv's editable-install hook is never loaded, so ``switchyard`` there
is the wheel's."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, *, check: bool = True,
        timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run a command, captured; with ``check``, fail the test with its output tail if it fails."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, (args, done.stdout[-3000:], done.stderr[-3000:])
    return done


@dataclass(frozen=True)
class WheelVenv:
    python: Path
    purelib: Path  # the venv's site-packages, where the wheel is installed

    @property
    def switchyard(self) -> str:
        return str(self.python.parent / "switchyard")


def install_wheel(tmp_path: Path, deps: list[Path], timeout: int = 600) -> WheelVenv:
    """Build the wheel, make a venv under ``tmp_path`` and install it there, with ``deps`` (the
    directories its dependencies are imported from) on the venv's path."""
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(ROOT)], cwd=tmp_path, timeout=timeout)
    (wheel,) = wheels.glob("switchyard-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, timeout=timeout)
    py = venv / "bin" / "python"
    purelib = Path(run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       cwd=tmp_path, timeout=timeout).stdout.strip())
    (purelib / "test-deps.pth").write_text("".join(f"{d}\n" for d in deps))
    run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
         "-q", str(wheel)], cwd=tmp_path, timeout=timeout)
    return WheelVenv(py, purelib)
