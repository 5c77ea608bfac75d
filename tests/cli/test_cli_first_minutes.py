"""A newcomer's first minutes, run as real processes: the demo shows answers and sources with no
third-party noise, and a cache hit in a new process reports its own (tiny) latency."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from switchyard.cli.commands.ask import demo_requests

pytestmark = pytest.mark.integration
EXE = str(Path(sys.executable).parent / "switchyard")
# What the libraries printed before: transformers' weight-loading bar and its loss_type notice.
NOISE = re.compile(r"Loading weights|it/s\]|\d+%\|[█ ]*\||\[transformers\]|loss_type=|\w*Warning: ")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"TRANSFORMERS_VERBOSITY", "SWITCHYARD_VERBOSE",
                                                            "HF_HUB_DISABLE_PROGRESS_BARS"}}
    return {**env, "SWITCHYARD_HOME": str(home), "SWITCHYARD_OFFLINE": "true"}


def test_demo_on_a_fresh_home_shows_answers_and_sources_and_no_library_noise(tmp_path: Path) -> None:
    home = tmp_path / "fresh-home"  # nothing built: database, index, classifier, encoder all new
    proc = subprocess.run([EXE, "demo"], capture_output=True, text=True, env=_env(home), timeout=1500)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert not NOISE.search(proc.stdout), NOISE.search(proc.stdout)
    blocks = re.split(r"^(?=\d+\. )", proc.stdout.split("switchyard: routed requests")[0], flags=re.M)
    blocks = [b for b in blocks if b.strip()]
    assert len(blocks) == len(demo_requests())
    for block, (text, _) in zip(blocks, demo_requests(), strict=True):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        assert lines[0].startswith(f"{blocks.index(block) + 1}. {text}")
        assert re.search(r"(fast|standard|expert) · (low|medium|high) · cache (HIT|miss)", lines[1])
        answer = lines[2:lines.index("sources:")] if "sources:" in lines else lines[2:]
        assert answer and len(" ".join(answer)) > 40, block  # an answer, not just the route
        if "poem" not in text:  # the out-of-scope deflection cites nothing
            assert "sources:" in lines and "https://help.quillstack.example/" in block, block
    assert "latency ms" in proc.stdout  # the summary table stays at the end
    quiet = subprocess.run([EXE, "demo", "--quiet"], capture_output=True, text=True,
                           env=_env(home), timeout=600)
    assert quiet.returncode == 0 and "sources:" not in quiet.stdout and "latency ms" in quiet.stdout


def test_cache_hit_in_a_new_process_reports_its_own_latency(switchyard_home: Path, sy) -> None:
    # ``sy`` prepared the session's home: these processes only load it.
    args = [EXE, "ask", "I forgot my password", "--json", "--user", "u-0011"]
    first = json.loads(subprocess.run(args, capture_output=True, env=_env(switchyard_home),
                                      timeout=600).stdout)
    assert first["cache_hit"] is False
    hits = []
    for _ in range(3):
        proc = subprocess.run(args, capture_output=True, text=True, env=_env(switchyard_home), timeout=600)
        assert proc.stderr == ""
        hits.append(json.loads(proc.stdout))
    assert all(h["cache_hit"] for h in hits)
    # Start-up (imports, encoder, index: seconds) is reported apart, never inside latency_ms.
    assert all(h["latency_ms"] < h["startup_ms"] / 10 for h in hits), hits
    # A hit is one embedding (~5 ms of CPU), a classification and a lookup: under 50 ms. The bound
    # holds for a machine that is not oversubscribed; at load average L on n cores each process
    # gets about n/L of a core, so wall time stretches by L/n (seen here: load 17 on 2 cores).
    stretch = max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    latencies = [h["latency_ms"] for h in hits]
    assert statistics.median(latencies) < 50 * stretch, (latencies, stretch)


@pytest.mark.parametrize("verbose", [False, True])
def test_transformers_output_is_silenced_by_configuration_and_verbose_restores_it(verbose: bool) -> None:
    """Loading the weights (the export, at set-up) is where transformers talks; quiet unless
    verbose."""
    code = (
        "from switchyard.core import library_output\n"
        f"library_output.configure(verbose={verbose})\n"
        "library_output.quiet_transformers()\n"
        "from transformers import AutoModel\n"
        "from switchyard.encoder.onnx_encoder import bundled_model_dir\n"
        "m = AutoModel.from_pretrained(str(bundled_model_dir()), attn_implementation='eager')\n"
        "m.loss_function\n"  # the property that logs the loss_type notice
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(Path("/nonexistent")), timeout=600)
    assert proc.returncode == 0, proc.stderr
    if verbose:
        assert "Loading weights" in proc.stderr and "loss_type=None" in proc.stderr
    else:
        assert proc.stderr == "" and proc.stdout == ""
