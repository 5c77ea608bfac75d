"""Keep third-party libraries' progress bars and chatter off the terminal, by configuration.

switchyard's own output is the product; what transformers, huggingface_hub and friends print while
loading a model (a ``Loading weights`` bar, a ``loss_type=None`` notice that does not concern an
encoder) is noise to someone asking a question. It is switched off at the source: each library's
own verbosity and progress-bar settings, logger levels, and ``warnings`` filters scoped to the
known messages. ``switchyard --verbose`` (or ``SWITCHYARD_VERBOSE=1``) leaves everything on.
"""

from __future__ import annotations

import logging
import os
import warnings

# Loggers of libraries that report at INFO/WARNING while loading or first use.
_NOISY_LOGGERS = ("transformers", "huggingface_hub", "sentence_transformers", "faiss")
# Known, harmless warnings raised while tracing or loading the encoder (matched at the start).
_KNOWN_WARNINGS = (
    r"`loss_type=None` was set in the config",
    r"Converting a tensor to a Python boolean might cause the trace to be incorrect",
)

_verbose = os.environ.get("SWITCHYARD_VERBOSE", "").lower() in {"1", "true", "yes"}


def is_verbose() -> bool:
    return _verbose


def configure(verbose: bool | None = None) -> None:
    """Apply the quiet (default) or verbose configuration; call before loading models.

    Environment variables are only defaults: a user who set ``TRANSFORMERS_VERBOSITY`` keeps it.
    """
    global _verbose
    if verbose is not None:
        _verbose = verbose
    if _verbose:
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for message in _KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


def quiet_transformers() -> None:
    """transformers is imported lazily (only to build the encoder once): quiet it through its
    own API as well, since it reads the environment only when first imported."""
    if _verbose:
        return
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
