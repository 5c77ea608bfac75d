"""A fitted model's files change together or not at all (switchyard.core.fileset).

Found by a hostile sweep: ``route train --outcomes`` replaced the head's arrays, then failed
before its manifest, and the head no longer loaded (the router fell back to complexity routing
with only a logged warning)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest

from switchyard.classifier.outcome_model import OutcomeModel
from switchyard.core import fileset
from switchyard.core.fileset import FileSet, named_file


def _head(seed: int) -> OutcomeModel:
    rng = np.random.default_rng(seed)
    return OutcomeModel(tiers=["fast", "expert"], mean=rng.normal(size=384).astype(np.float32),
                        components=rng.normal(size=(4, 384)).astype(np.float32),
                        feat_mean=np.zeros(17, np.float32), feat_scale=np.ones(17, np.float32),
                        W=rng.normal(size=(2, 21)).astype(np.float32),
                        b=rng.normal(size=2).astype(np.float32), n_rows=100 + seed)


def _fail_on_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        if str(dst).endswith(".json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(fileset.os, "replace", replace)


def test_a_save_that_fails_before_its_manifest_leaves_the_old_head_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = _head(1), _head(2)
    old.save(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with monkeypatch.context() as m:
        _fail_on_manifest(m)
        with pytest.raises(OSError, match="No space left"):
            new.save(tmp_path)
    loaded = OutcomeModel.load(tmp_path)
    assert loaded is not None and loaded.n_rows == old.n_rows
    assert np.array_equal(loaded.W, old.W)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # the new arrays are gone too
    new.save(tmp_path)  # and the next save goes through, leaving one generation
    assert np.array_equal(OutcomeModel.load(tmp_path).W, new.W)  # type: ignore[union-attr]
    assert len(list(tmp_path.glob("outcome*.npz"))) == 1


def test_a_classifier_save_that_fails_half_way_keeps_the_old_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sy) -> None:
    import shutil

    from switchyard.classifier.local import LocalModel

    directory = tmp_path / "classifier"
    shutil.copytree(sy.settings.classifier_path, directory)
    model, manifest = LocalModel.load(directory)
    with monkeypatch.context() as m:
        # The arrays are written, then the lexicon fails: two files of one model.
        m.setattr(model.lexicon, "terms", object())  # not JSON-serialisable
        with pytest.raises(TypeError):
            model.save(directory, "other-hash", "custom:x.jsonl", manifest["encoder"])
    _, kept = LocalModel.load(directory)
    assert kept == manifest and kept["data_hash"] != "other-hash"
    assert sorted(p.name for p in directory.glob("model*.npz")) == [manifest["files"]["model"]]


def test_an_old_layout_loads_and_the_next_save_replaces_it(tmp_path: Path) -> None:
    head = _head(3)
    head.save(tmp_path)
    manifest = json.loads((tmp_path / "outcome.json").read_text())
    # The layout before generations: fixed names, no "files" in the manifest.
    (tmp_path / manifest.pop("files")["arrays"]).rename(tmp_path / "outcome.npz")
    (tmp_path / "outcome.json").write_text(json.dumps(manifest))
    assert np.array_equal(OutcomeModel.load(tmp_path).W, head.W)  # type: ignore[union-attr]
    _head(4).save(tmp_path)
    assert not (tmp_path / "outcome.npz").exists()
    assert OutcomeModel.load(tmp_path).n_rows == 104  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["../outcome.npz", "/etc/passwd", "sub/outcome.npz", "", 7])
def test_a_manifest_never_points_outside_its_directory(tmp_path: Path, name: object) -> None:
    with pytest.raises(ValueError, match="invalid file for 'arrays'"):
        named_file(tmp_path, {"files": {"arrays": name}}, "arrays", before="outcome.npz")


def test_removing_the_head_removes_every_generation(tmp_path: Path) -> None:
    _head(5).save(tmp_path)
    (tmp_path / "outcome.0123456789abcdef.npz").write_bytes(b"an older generation")
    assert OutcomeModel.remove(tmp_path) is True
    assert OutcomeModel.load(tmp_path) is None
    assert not list(tmp_path.glob("outcome*"))
    assert OutcomeModel.remove(tmp_path / "missing") is False


def test_files_added_but_never_committed_are_removed(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), FileSet(tmp_path, "m.json") as files:
        files.add("data", ".bin", lambda p: p.write_bytes(b"x"))
        raise RuntimeError("boom")
    assert [p.name for p in tmp_path.iterdir()] == [".write.lock"]
