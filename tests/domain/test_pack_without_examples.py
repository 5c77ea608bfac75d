"""Bring your own traffic, with none labelled yet: a pack with zero labelled requests sets up
with a clear warning, and the router falls back to complexity-only routing on switchyard's
generic examples, still sending out-of-scope requests to the fast tier."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from switchyard.core import domain

PACK = Path(__file__).resolve().parent / "packs" / "fernhill"
EXE = str(Path(sys.executable).parent / "switchyard")


def _pack_with(tmp: Path, rows: list[dict] | None) -> Path:
    """Fernhill with ``rows`` as its labelled requests (None: no train.jsonl at all)."""
    root = tmp / "pack"
    shutil.copytree(PACK, root)
    for split in (root / "routing").glob("*.jsonl"):
        split.unlink()
    if rows is not None:
        (root / "routing" / "train.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return root


@pytest.mark.parametrize("rows", [None, [], [
    {"text": "how often do I water a fern", "complexity": "low", "intent": "plant_care"},
    {"text": "where is my parcel", "complexity": "low", "intent": "order_status"},
    {"text": "write a song", "complexity": "low", "intent": "out_of_scope"}]],
    ids=["no-file", "empty", "three"])
def test_too_few_examples_fit_on_the_generic_fallback_with_a_warning(tmp_path: Path,
                                                                      rows) -> None:
    from switchyard.classifier.local import (
        FALLBACK_FILE,
        MIN_LABELLED_TO_FIT,
        default_training_files,
        fallback_warning,
    )

    root = _pack_with(tmp_path, rows)
    files = default_training_files(root / "routing")
    assert files[-1] == FALLBACK_FILE
    warning = fallback_warning(root / "routing")
    assert warning is not None
    assert warning.startswith(f"only {len(rows or [])} labelled requests")
    assert "complexity-only routing" in warning and str(MIN_LABELLED_TO_FIT) in warning


def test_enough_examples_use_only_the_pack_s_own(tmp_path: Path) -> None:
    from switchyard.classifier.local import (
        MIN_LABELLED_TO_FIT,
        default_training_files,
        fallback_warning,
    )

    rows = [{"text": f"how do I water plant {i}", "complexity": "low", "intent": "plant_care"}
            for i in range(MIN_LABELLED_TO_FIT)]
    root = _pack_with(tmp_path, rows)
    assert default_training_files(root / "routing") == [root / "routing" / "train.jsonl"]
    assert fallback_warning(root / "routing") is None


def test_the_fallback_examples_name_no_domain() -> None:
    """The generic set ships in the wheel for every pack: complexity and scope only."""
    from switchyard.classifier.data import load_labeled
    from switchyard.classifier.local import FALLBACK_FILE

    rows = load_labeled(FALLBACK_FILE)
    assert {r.intent for r in rows} == {"general_low", "general_medium", "general_high",
                                        domain.OUT_OF_SCOPE}
    assert {r.complexity for r in rows} == {"low", "medium", "high"}


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_a_pack_with_zero_examples_sets_up_answers_and_deflects_cheaply(
        tmp_path: Path, switchyard_home: Path) -> None:
    from switchyard.app import Switchyard
    from switchyard.core.settings import Settings

    root = _pack_with(tmp_path, [])
    home = tmp_path / "home"
    home.mkdir()
    if (switchyard_home / "models").is_dir():  # reuse the session's exported encoder
        shutil.copytree(switchyard_home / "models", home / "models")
    env = {**os.environ, "SWITCHYARD_HOME": str(home), "SWITCHYARD_OFFLINE": "true",
           "LANGSMITH_TRACING": "false"}
    env.pop("SWITCHYARD_DOMAIN", None)
    setup = subprocess.run([EXE, "--domain", str(root), "setup"], env=env, capture_output=True,
                           text=True, timeout=600)
    assert setup.returncode == 0, setup.stderr
    out = " ".join(setup.stdout.split())  # rich wraps long lines
    assert "domain pack: Fernhill" in out
    assert "warning: only 0 labelled requests" in out
    assert "falls back to complexity-only routing" in out

    before = domain.active_pack()
    sy = Switchyard.open(Settings(home=home, domain=root), setup=False)
    try:
        answered = sy.ask("How often should I water my pothos in winter?", user_id="u-0001")
        assert answered.answer.strip() and answered.in_scope is True
        assert answered.intent.startswith("general_")  # complexity only: no pack intent
        assert answered.agent in ("fast", "standard", "expert")

        away = sy.ask("Write me a limerick about the moon", user_id="u-0001")
        assert away.in_scope is False and away.agent == "fast"
        assert "Fernhill" in away.answer
    finally:
        sy.close()
        domain.activate(before)
