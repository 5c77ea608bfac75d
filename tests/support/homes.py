"""A home of its own for a test that changes what a home holds (a retrained router), built from
the session's in seconds: the encoder linked, the classifier, index and customer database copied."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from switchyard.app import Switchyard


def copy_home(sy: Switchyard, dest: Path) -> Path:
    src = sy.settings.home
    locks = shutil.ignore_patterns("*.lock", ".*.lock")
    shutil.copytree(src / "models", dest / "models", copy_function=os.link, ignore=locks)
    for name in ("classifier", "index"):
        if (src / name).exists():
            shutil.copytree(src / name, dest / name, ignore=locks)
    shutil.copy2(src / "customers.sqlite", dest / "customers.sqlite")
    return dest
