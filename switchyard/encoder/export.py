"""Export the bundled all-MiniLM-L6-v2 to ONNX, once per home (needs torch, transformers, onnx).

    python -m switchyard.encoder.export --out SWITCHYARD_HOME/models

This is the only code that imports torch. Request-time processes never do: when a home lacks the
encoder, ``switchyard.encoder.store`` runs this module in a child process, so the serving
process does not carry torch's memory.

Recipe (measured in docs/encoder.md):

1. ``AutoModel`` with eager attention, wrapped as ``(input_ids, attention_mask) ->
   last_hidden_state``. Transformers' default SDPA attention exports to a subgraph that
   onnxruntime's optimizer cannot fuse.
2. ``torch.onnx.export(..., dynamo=False)`` (the TorchScript exporter), opset 17, dynamic batch
   and sequence axes. torch 2.13's default dynamo exporter needs onnxscript, and its graph does not
   fuse into Attention / EmbedLayerNormalization either.
3. onnxruntime's transformer optimizer (python fusions only, ``opt_level=0``: no CPU-specific
   rewrites baked into the file; the session applies those at load, for its own CPU).
4. Checked against torch on texts of several lengths in one padded batch, then the probe vector
   and the file's sha256 are recorded in the sidecar. fp32: the vectors are torch's (cosine >=
   0.9999998 on 13,995 texts). Pooling and normalisation stay outside the graph, in numpy.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from switchyard.core import library_output
from switchyard.encoder.onnx_encoder import (
    EMBEDDING_DIM,
    FORMAT,
    MAX_TOKENS,
    NUM_HEADS,
    PROBE_IDS,
    PROBE_TEXT,
    RECIPE,
    RECIPES,
    Recipe,
    bundled_model_dir,
    encoder_paths,
    file_sha256,
    key_for_digest,
    load_tokenizer,
    mean_pool,
    model_files_digest,
    open_session,
    ort_version,
    pad,
    probe_output,
    tokenizer_copy,
    vectors_id,
)

# Texts of several lengths, run as one padded batch through torch and the exported file: the
# last is longer than the tokenizer file's own 128-token limit.
CHECK_TEXTS = [
    PROBE_TEXT,
    "refund",
    "Our webhook deliveries started failing with 401 after we rotated the signing secret. "
    * 12,
]
# Cosine between torch's and the exported file's vectors, per text (measured: >= 0.9999998).
# The file must reproduce torch's vectors: fp32 to rounding, int8 weights within what the
# accuracy checks in docs/encoder.md allow (measured: cosine >= 0.9993 on 3,000 real questions).
def check_min_cosine(recipe: Recipe) -> float:
    return 0.99999 if recipe.weight_bits == 0 else 0.998


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """onnxruntime's optimizer logs every fusion at INFO, and the tracer warns about Python
    control flow in BERT's mask code (constant for an encoder); keep setup readable."""
    root = logging.getLogger()
    saved = root.level
    if not library_output.is_verbose():
        root.setLevel(max(saved, logging.WARNING))
    try:
        with warnings.catch_warnings():
            if not library_output.is_verbose():
                warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(saved)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # as a plain open() would: mkstemp makes it private
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _quantize_weights(path: Path, recipe: Recipe) -> None:
    """Replace ``path`` by its MatMulNBits (weight-only, block-wise) quantisation."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    if not library_output.is_verbose():  # it logs every node at INFO through its own handler
        logging.getLogger(MatMulNBitsQuantizer.__module__).setLevel(logging.WARNING)
    config = DefaultWeightOnlyQuantConfig(block_size=recipe.block_size, is_symmetric=True,
                                          accuracy_level=recipe.accuracy_level,
                                          bits=recipe.weight_bits)
    quantizer = MatMulNBitsQuantizer(onnx.load(str(path)), algo_config=config)
    quantizer.process()
    tmp = path.with_suffix(".q.onnx")
    quantizer.model.save_model_to_file(str(tmp), False)
    os.replace(tmp, path)


def export_onnx(out_dir: Path, model_dir: Path | None = None, recipe: Recipe = RECIPE) -> Path:
    """Export, check and save the encoder under ``out_dir``; return the .onnx path (its JSON
    sidecar is written last, so whoever finds the sidecar finds the complete file beside it)."""
    import torch

    library_output.quiet_transformers()
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoModel

    model_dir = Path(model_dir or bundled_model_dir())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    digest = model_files_digest(model_dir)
    key = key_for_digest(digest, recipe)
    onnx_path, sidecar = encoder_paths(out_dir, key, recipe)
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    wrapper = LastHidden(model).eval()
    # Two rows, one right-padded, so the traced mask arithmetic is the general one.
    ids = torch.tensor([PROBE_IDS, PROBE_IDS[:3] + [0] * (len(PROBE_IDS) - 3)], dtype=torch.long)
    mask = (ids != 0).long()
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".export-") as tmp_dir, _quiet():
        raw, fused = Path(tmp_dir) / "raw.onnx", Path(tmp_dir) / "fused.onnx"
        with torch.inference_mode():
            torch.onnx.export(
                wrapper, (ids, mask), str(raw), dynamo=False, opset_version=recipe.opset,
                do_constant_folding=True,
                input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                dynamic_axes={name: {0: "batch", 1: "sequence"}
                              for name in ("input_ids", "attention_mask", "last_hidden_state")},
            )
        optimize_model(str(raw), model_type="bert", num_heads=NUM_HEADS, hidden_size=EMBEDDING_DIM,
                       opt_level=0).save_model_to_file(str(fused))
        if recipe.weight_bits:
            _quantize_weights(fused, recipe)

        session = open_session(fused, threads=1)
        tokenizer = load_tokenizer(model_dir / "tokenizer.json")
        b_ids, b_mask = pad(tokenizer.encode_batch(CHECK_TEXTS))
        with torch.inference_mode():
            reference = mean_pool(wrapper(torch.from_numpy(b_ids), torch.from_numpy(b_mask)).numpy(),
                                  b_mask)
        exported = mean_pool(session.run(None, {"input_ids": b_ids, "attention_mask": b_mask})[0],
                             b_mask)
        cosines = (reference * exported).sum(axis=1)
        if b_ids.shape[1] <= 128 or float(cosines.min()) < check_min_cosine(recipe):
            raise RuntimeError(f"the exported encoder does not reproduce torch's vectors (cosine "
                               f"{cosines.round(7).tolist()} on {b_ids.shape[1]} tokens)")
        probe = probe_output(session)
        # The tokenizer travels with the model: a runtime without the model package (installed
        # without the `export` extra) reads it from the home (onnx_encoder.open_exported).
        tokenizer = Path(tmp_dir) / "tokenizer.json"
        shutil.copyfile(model_dir / "tokenizer.json", tokenizer)
        meta = {
            "format": FORMAT,
            "key": key,
            "vectors": vectors_id(model_dir, recipe),
            "recipe": asdict(recipe),
            "onnxruntime": ort_version(),
            "torch": torch.__version__,
            "max_tokens": MAX_TOKENS,
            "weights_sha256": file_sha256(model_dir / "model.safetensors"),
            "model_digest": digest,
            "tokenizer_sha256": file_sha256(tokenizer),
            "onnx_sha256": file_sha256(fused),
            "probe_text": PROBE_TEXT,
            "probe_ids": PROBE_IDS,
            "probe_output": probe.tolist(),
            "check_cosine_vs_torch": float(cosines.min()),
        }
        del session
        os.replace(tokenizer, tokenizer_copy(onnx_path))
        os.replace(fused, onnx_path)  # the temp dir is inside out_dir: same file system
    _atomic_write_text(sidecar, json.dumps(meta))
    return onnx_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export the sentence encoder to ONNX.")
    parser.add_argument("--out", type=Path, required=True, help="directory (SWITCHYARD_HOME/models)")
    parser.add_argument("--precision", choices=sorted(RECIPES), default=RECIPE.variant)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    path = export_onnx(args.out, recipe=RECIPES[args.precision])
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    print(json.dumps({"path": str(path), "seconds": round(time.perf_counter() - started, 1),
                      "check_cosine_vs_torch": meta["check_cosine_vs_torch"]}))
    return 0


if __name__ == "__main__":
    library_output.configure()
    sys.exit(main())
