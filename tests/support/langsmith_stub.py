"""A local LangSmith-protocol stub: the endpoints the ``langsmith`` client calls to post runs and
feedback and to read them back, over real HTTP on a loopback port.

    with LangSmithStub() as stub:          # stub.url -> LANGSMITH_ENDPOINT
        ...
        stub.runs, stub.feedback           # what the client sent, by id

Runs arrive as ``POST /runs/batch`` (``{"post": [...], "patch": [...]}``; ``/info`` turns the
multipart endpoint off), ``POST /runs`` and ``PATCH /runs/{id}``; feedback as ``POST /feedback``.
Reading back: ``GET /sessions?name=`` (the project), ``POST /runs/query`` and ``GET /feedback``.
"""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class LangSmithStub:
    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.feedback: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, str] = {}  # name -> id
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LangSmithStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def project_id(self, name: str) -> str:
        with self._lock:
            return self.projects.setdefault(name, str(uuid.uuid5(uuid.NAMESPACE_URL, name)))

    # -- storage ---------------------------------------------------------------------------
    def _post_run(self, run: dict[str, Any]) -> None:
        self._patch_run(str(run["id"]), run)

    def _patch_run(self, rid: str, patch: dict[str, Any]) -> None:
        """Posts and patches arrive in any order (batches): merge them, never with a None."""
        with self._lock:
            run = self.runs.setdefault(rid, {"id": rid})
            run.update({k: v for k, v in patch.items() if v is not None})
            project = run.get("session_name")
            if project and not run.get("session_id"):
                run["session_id"] = self.projects.setdefault(
                    project, str(uuid.uuid5(uuid.NAMESPACE_URL, project)))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _body(self) -> Any:
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n) if n else b""
                if self.headers.get("content-encoding") == "gzip":
                    raw = gzip.decompress(raw)
                return json.loads(raw) if raw else None

            def _send(self, status: int, payload: Any) -> None:
                data = json.dumps(payload, default=str).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urlparse(self.path)
                q = parse_qs(url.query)
                stub.requests.append(("GET", url.path))
                if url.path == "/info":
                    self._send(200, {"version": "0.0.1", "instance_flags": {},
                                     "batch_ingest_config": {"use_multipart_endpoint": False,
                                                             "size_limit": 100,
                                                             "scale_up_qsize_trigger": 1000,
                                                             "scale_up_nthreads_limit": 1,
                                                             "scale_down_nempty_trigger": 4,
                                                             "size_limit_bytes": 20_000_000}})
                elif url.path == "/sessions":
                    names = q.get("name") or []
                    self._send(200, [{"id": stub.project_id(n), "name": n,
                                      "tenant_id": str(uuid.UUID(int=0)),
                                      "start_time": "2026-01-01T00:00:00",
                                      "reference_dataset_id": None} for n in names])
                elif url.path == "/feedback":
                    runs = set(q.get("run") or [])
                    keys = set(q.get("key") or [])
                    offset = int((q.get("offset") or ["0"])[0])
                    with stub._lock:
                        got = [f for f in stub.feedback.values()
                               if (not runs or f["run_id"] in runs) and (not keys or f["key"] in keys)]
                    self._send(200, got[offset:])
                elif url.path.startswith("/runs/"):
                    rid = url.path.split("/")[2]
                    with stub._lock:
                        run = stub.runs.get(rid)
                    self._send(200 if run else 404, run or {"detail": "not found"})
                else:
                    self._send(404, {"detail": f"stub has no GET {url.path}"})

            def do_POST(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                stub.requests.append(("POST", url.path))
                body = self._body()
                if url.path == "/runs/batch":
                    for run in body.get("post") or []:
                        stub._post_run(run)
                    for patch in body.get("patch") or []:
                        stub._patch_run(str(patch["id"]), patch)
                    self._send(200, {})
                elif url.path == "/runs":
                    stub._post_run(body)
                    self._send(200, {})
                elif url.path == "/feedback":
                    fid = str(body.get("id") or uuid.uuid4())
                    with stub._lock:
                        stub.feedback[fid] = {"trace_id": body.get("run_id"), **body, "id": fid,
                                              "run_id": str(body["run_id"]),
                                              "created_at": "2026-01-01T00:00:00",
                                              "modified_at": "2026-01-01T00:00:00"}
                    self._send(200, stub.feedback[fid])
                elif url.path == "/runs/query":
                    sessions = set(body.get("session") or [])
                    with stub._lock:
                        runs = [r for r in stub.runs.values()
                                if (not sessions or r.get("session_id") in sessions)
                                and (not body.get("is_root") or not r.get("parent_run_id"))]
                    self._send(200, {"runs": runs, "cursors": {"next": None}})
                else:
                    self._send(404, {"detail": f"stub has no POST {url.path}"})

            def do_PATCH(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                stub.requests.append(("PATCH", url.path))
                stub._patch_run(url.path.split("/")[2], self._body() or {})
                self._send(200, {})

        return Handler
