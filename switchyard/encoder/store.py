"""The exported encoder under ``SWITCHYARD_HOME/models/``: load it, or export it in a child process.

A home gets its encoder file from ``switchyard setup`` (or from the first process that needs it).
The export needs torch; it runs as ``python -m switchyard.encoder.export`` in a child process, so
the process that asked for it (``serve``, ``ask``, ``langgraph dev``) never imports torch and
does not keep its memory. Concurrent processes on one home export once: the others wait on a lock
and load the file the first one wrote.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from switchyard.core import library_output
from switchyard.core.storage import describe_error
from switchyard.encoder.onnx_encoder import (
    RECIPE,
    EncoderUnavailable,
    OnnxEncoder,
    Recipe,
    bundled_model_dir,
    encoder_key,
    encoder_paths,
    open_exported,
    tokenizer_copy,
)

log = logging.getLogger(__name__)

LOCK_FILE = ".encoder.lock"
# What earlier encoders of this kind left in the models directory: ONNX files of other keys and
# the TorchScript modules of switchyard before the ONNX encoder (encoder-<key>.pt + .json).
_ENCODER_FILE = re.compile(r"encoder-[0-9a-f]{16}(-[a-z0-9]+)?\.(onnx|pt|json|tokenizer\.json)")
EXPORT_TIMEOUT_S = 900.0


def export_available() -> bool:
    """Whether this environment can export (torch, transformers and onnx importable); checked
    without importing them."""
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "onnx"))


@contextlib.contextmanager
def _export_lock(store_dir: Path) -> Iterator[None]:
    with (store_dir / LOCK_FILE).open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def export_in_child(store_dir: Path, timeout_s: float = EXPORT_TIMEOUT_S,
                    recipe: Recipe = RECIPE) -> float:
    """Run the export in a child process; return its seconds, or raise EncoderUnavailable with
    the child's last words. Its library output reaches the terminal only with ``--verbose``."""
    verbose = library_output.is_verbose()
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", **({"SWITCHYARD_VERBOSE": "1"} if verbose else {})}
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "switchyard.encoder.export", "--out", str(store_dir),
             "--precision", recipe.variant],
            stdout=subprocess.PIPE, stderr=None if verbose else subprocess.PIPE, text=True,
            timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired as exc:
        raise EncoderUnavailable(f"exporting the sentence encoder took over {timeout_s:.0f} s; "
                                 "run `switchyard setup` again on a less busy machine") from exc
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or "").strip().splitlines()[-3:])[-600:]
        raise EncoderUnavailable(
            f"exporting the sentence encoder failed ({tail or 'exit status ' + str(proc.returncode)})"
            + ("" if verbose else "; run `switchyard --verbose setup` to see why"))
    return time.perf_counter() - started


def prune_stale(store_dir: Path, keep: Path) -> list[str]:
    """Delete other encoder files (other keys, the old TorchScript modules): 90 MB each."""
    removed = []
    keep_names = {keep.name, keep.with_suffix(".json").name, tokenizer_copy(keep).name}
    for entry in store_dir.iterdir():
        if entry.name not in keep_names and _ENCODER_FILE.fullmatch(entry.name):
            with contextlib.suppress(OSError):
                entry.unlink()
                removed.append(entry.name)
    return removed


class Loaded:
    """The encoder and how it was obtained (for ``switchyard setup``'s report)."""

    def __init__(self, encoder: OnnxEncoder, exported_s: float | None,
                 recipe: Recipe = RECIPE) -> None:
        self.encoder = encoder
        self.exported_s = exported_s
        self.recipe = recipe

    def describe(self) -> str:
        threads = (f"{self.encoder.threads} intra-op thread(s)" if self.encoder.threads
                   else "intra-op threads on every core")
        how = (f"exported in {self.exported_s:.1f} s" if self.exported_s is not None
               else "loaded")
        if self.encoder.tokenizer_path.parent == self.encoder.path.parent:
            how += "; the model package is not installed: served from this home's export"
        return (f"all-MiniLM-L6-v2, ONNX {self.recipe.variant}, {threads} ({how})")


def load_or_export(store_dir: Path, threads: int = 1, *, export: bool | None = None,
                   model_dir: Path | None = None, recipe: Recipe = RECIPE) -> Loaded:
    """The home's encoder if it checks out. Otherwise export it (in a child process) when
    ``export`` is True, or None and this environment can (torch installed); else raise
    EncoderUnavailable telling the caller to run ``switchyard setup``."""
    store_dir = Path(store_dir)
    try:
        model_dir = Path(model_dir or bundled_model_dir())
    except EncoderUnavailable:
        # Installed without the `export` extra: serve the home's export, or say what to do.
        encoder = open_exported(store_dir, threads, recipe)
        return Loaded(encoder, None, recipe)
    key = encoder_key(model_dir, recipe)
    path, _ = encoder_paths(store_dir, key, recipe)

    def open_encoder() -> OnnxEncoder:
        return OnnxEncoder(path, model_dir, threads, key=key, recipe=recipe)

    try:
        return Loaded(open_encoder(), None, recipe)
    except EncoderUnavailable as exc:
        if export is False:
            raise
        if export is None and not export_available():
            raise EncoderUnavailable(
                f"{exc}. This environment cannot export it (torch, transformers and onnx are "
                "not installed): run `switchyard setup` where they are, on this home") from exc
        log.info("exporting the sentence encoder: %s", exc)
    try:
        store_dir.mkdir(parents=True, exist_ok=True)
        with _export_lock(store_dir):
            try:  # another process may have exported it while this one waited for the lock
                return Loaded(open_encoder(), None, recipe)
            except EncoderUnavailable:
                pass
            seconds = export_in_child(store_dir, recipe=recipe)
            loaded = Loaded(open_encoder(), seconds, recipe)
            removed = prune_stale(store_dir, path)
    except OSError as exc:
        # A read-only or full home says so in the storage layer's words (what the CLI and the
        # service's health checks print for every other file under the home).
        storage = describe_error(exc, store_dir)
        raise EncoderUnavailable(
            f"cannot write the sentence encoder: {storage}" if storage else
            f"cannot write the sentence encoder to {store_dir} ({exc.strerror or exc}); run "
            "`switchyard setup` with a writable SWITCHYARD_HOME") from exc
    if removed:
        log.info("removed stale encoder files: %s", json.dumps(removed))
    return loaded
