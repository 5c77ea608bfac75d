"""The sentence encoder as a saved TorchScript module, so a new process loads it in one step.

Building the encoder means importing transformers (seconds of imports), reading the weights into
a ``BertModel``, tracing, freezing and optimising it. We do that once and save the result under
``SWITCHYARD_HOME/models/``; later processes ``torch.jit.load`` it without importing transformers.
The saved module *is* the frozen trace the process would have built, so vectors are identical.

A saved module is used only if its key matches (model files, torch version, format) and it
reproduces, on a fixed probe input, the output recorded when it was built; otherwise it is rebuilt.
The probe run doubles as the warm-up, so the first request does not pay for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 1
# "[CLS] how do i reset my password ? [SEP]" in the model's vocabulary: a fixed, tokenizer-free probe.
PROBE_IDS = [101, 2129, 2079, 1045, 25141, 2026, 20786, 1029, 102]
_PROBE_ATOL = 1e-5


def encoder_key(model_path: Path, torch_version: str) -> str:
    """Changes when the model files, torch or this format change."""
    digest = hashlib.sha256(f"{FORMAT}\n{torch_version}\n".encode())
    for path in sorted(Path(model_path).iterdir()):
        if path.is_file():
            # Config and tokenizer files are hashed; large weight files by name and size, which
            # change with any re-release, so the start-up does not read 90 MB to hash it.
            blob = path.read_bytes() if path.stat().st_size < (1 << 20) else str(path.stat().st_size).encode()
            digest.update(path.name.encode() + b"\0" + blob + b"\0")
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _jit_deprecation_silenced() -> Iterator[None]:
    # torch 2.13 marks torch.jit.save/load deprecated (in favour of torch.export); they work and
    # are what keeps the vectors identical, so that one notice is not shown to users.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.(save|load)` is deprecated")
        yield


def _probe(torch: Any, encoder: Any) -> np.ndarray:
    ids = torch.tensor([PROBE_IDS], dtype=torch.long)
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        return encoder(ids, torch.ones_like(ids)).numpy()


def _last_hidden(torch: Any, model: Any) -> Any:
    """Wrap a transformers model as ``(input_ids, attention_mask) -> last_hidden_state``."""

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return LastHidden(model).eval()


def eager_encoder(torch: Any, model_path: Path) -> Any:
    """The encoder straight from the weights, through transformers (slow to import)."""
    from switchyard.core import library_output

    library_output.quiet_transformers()
    from transformers import AutoModel

    return _last_hidden(torch, AutoModel.from_pretrained(str(model_path)).eval())


def trace_encoder(torch: Any, eager: Any) -> Any:
    """A frozen, inference-optimised TorchScript trace: faster per call, same vectors."""
    example = (torch.ones((1, 8), dtype=torch.long), torch.ones((1, 8), dtype=torch.long))
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer warnings about python control flow in BERT
        traced = torch.jit.trace(eager, example, check_trace=False)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))


def _save(torch: Any, encoder: Any, store_dir: Path, key: str) -> None:
    """Write module then sidecar atomically; a concurrent process sees both or neither."""
    store_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=store_dir, prefix=".encoder-", suffix=".tmp")
    os.close(fd)
    try:
        with _jit_deprecation_silenced():
            torch.jit.save(encoder, tmp)
        os.replace(tmp, store_dir / f"encoder-{key}.pt")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    probe = {"format": FORMAT, "probe_ids": PROBE_IDS, "output": _probe(torch, encoder).tolist()}
    sidecar = store_dir / f"encoder-{key}.json"
    tmp_json = sidecar.with_suffix(".json.tmp")
    tmp_json.write_text(json.dumps(probe), encoding="utf-8")
    os.replace(tmp_json, sidecar)


def _load_saved(torch: Any, store_dir: Path, key: str) -> Any | None:
    module_path, sidecar = store_dir / f"encoder-{key}.pt", store_dir / f"encoder-{key}.json"
    if not (module_path.is_file() and sidecar.is_file()):
        return None
    try:
        expected = np.asarray(json.loads(sidecar.read_text(encoding="utf-8"))["output"], dtype=np.float32)
        with _jit_deprecation_silenced():
            encoder = torch.jit.load(str(module_path), map_location="cpu")
        actual = _probe(torch, encoder)
    except Exception:  # truncated or foreign file: rebuild rather than fail the request
        return None
    if actual.shape != expected.shape or not np.allclose(actual, expected, atol=_PROBE_ATOL):
        return None
    return encoder


def load_encoder(torch: Any, model_path: Path, store_dir: Path | None) -> Any:
    """The saved encoder if valid, else build (and save, when ``store_dir`` is given)."""
    if os.environ.get("SWITCHYARD_EMBED_JIT", "1") == "0":
        return eager_encoder(torch, model_path)
    key = encoder_key(model_path, torch.__version__)
    if store_dir is not None:
        saved = _load_saved(torch, store_dir, key)
        if saved is not None:
            return saved
    eager = eager_encoder(torch, model_path)
    try:
        encoder = trace_encoder(torch, eager)
    except Exception:  # pragma: no cover - a torch without these passes: eager is still right
        return eager
    if store_dir is not None:
        with contextlib.suppress(OSError):  # a read-only home still gets a working encoder
            _save(torch, encoder, store_dir, key)
    return encoder
