"""A local LangSmith-protocol stub: the endpoints the ``langsmith`` client calls to post runs and
feedback and to read them back, over real HTTP on a loopback port.

    with LangSmithStub() as stub:          # stub.url -> LANGSMITH_ENDPOINT
        ...
        stub.runs, stub.feedback           # what the client sent, by id

Runs arrive as ``POST /runs/batch`` (``{"post": [...], "patch": [...]}``; ``/info`` turns the
multipart endpoint off), ``POST /runs`` and ``PATCH /runs/{id}``; feedback as ``POST /feedback``.
Datasets and experiments (``switchyard eval --langsmith``): ``GET``/``POST /datasets``,
``GET /examples?dataset=``, ``POST /examples/bulk`` and ``POST /sessions`` (a project, here an
experiment on a dataset). Reading back: ``GET /sessions?name=`` (the project), ``GET /feedback``,
and the runs through
``POST /runs/query`` (``Client.list_runs``) or the runs query API ``POST /api/v2/runs/query``
(``Client.runs.query``).

``backend`` is the deployment's query backend, as ``/info``'s ``instance_flags`` tell the SDK:
``"clickhouse"`` (a server before 0.16: no runs query API), ``"dual"`` (both) or ``"smithdb"``
(SmithDB only: no ``POST /runs/query``, and feedback on a run must name its project,
``session_id``).

The runs query API's documented rules are enforced (langsmith's ``RunQueryV2Params``):
``project_ids`` is required unless ``reference_dataset_id`` is set, and not both; ``page_size``
is 1..1000 (default 100); the start-time window defaults to the last day; without ``selects``
only ``id`` comes back, and a select that is not a ``RunSelectField`` is refused; pages follow an
opaque ``next_cursor``. Every request needs an ``x-api-key``.

``keep_alive=True`` answers HTTP/1.1 and keeps connections open, as LangSmith does, so a client
that pools connections reuses them (``stub.connections`` counts the ones opened).
"""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, get_args
from urllib.parse import parse_qs, urlparse

from langsmith.types.run_select_field import RunSelectField

# The properties a runs query may select, as the installed SDK types them.
RUN_SELECT_FIELDS = frozenset(get_args(RunSelectField))


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class LangSmithStub:
    def __init__(self, backend: str = "dual", *, keep_alive: bool = False) -> None:
        self.backend = backend
        self.keep_alive = keep_alive
        self.connections = 0
        self.runs: dict[str, dict[str, Any]] = {}
        self.feedback: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, str] = {}  # name -> id
        self.project_bodies: dict[str, dict[str, Any]] = {}  # name -> POST /sessions body
        self.datasets: dict[str, dict[str, Any]] = {}  # id -> dataset
        self.examples: dict[str, dict[str, Any]] = {}  # id -> example
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

    # -- datasets and experiments --------------------------------------------------------------
    @staticmethod
    def _now() -> str:
        return datetime.now(UTC).isoformat()

    def _create_dataset(self, body: dict[str, Any]) -> tuple[int, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return 422, {"detail": "a dataset needs a name"}
        with self._lock:
            if any(d["name"] == name for d in self.datasets.values()):
                return 409, {"detail": f"dataset {name!r} already exists"}
            did = str(body.get("id") or uuid.uuid4())
            self.datasets[did] = {"id": did, "name": name, "description": body.get("description"),
                                  "data_type": body.get("data_type") or "kv",
                                  "created_at": self._now(), "modified_at": self._now(),
                                  "tenant_id": str(uuid.UUID(int=0)), "example_count": 0}
            return 200, self.datasets[did]

    def _create_examples(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, list):
            return 422, {"detail": "POST /examples/bulk takes a list of examples"}
        out = []
        with self._lock:
            for ex in body:
                if not isinstance(ex, dict) or str(ex.get("dataset_id")) not in self.datasets:
                    return 404, {"detail": "an example names no existing dataset"}
                eid = str(ex.get("id") or uuid.uuid4())
                if eid in self.examples:
                    return 409, {"detail": f"example {eid} already exists"}
                self.examples[eid] = {"id": eid, "dataset_id": str(ex["dataset_id"]),
                                      "inputs": ex.get("inputs"), "outputs": ex.get("outputs"),
                                      "metadata": ex.get("metadata"),
                                      "created_at": self._now(), "modified_at": self._now()}
                self.datasets[str(ex["dataset_id"])]["example_count"] += 1
                out.append(self.examples[eid])
        return 200, out

    def _create_project(self, body: dict[str, Any]) -> tuple[int, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return 422, {"detail": "a project needs a name"}
        with self._lock:
            if name in self.projects:
                return 409, {"detail": f"project {name!r} already exists"}
            ref = body.get("reference_dataset_id")
            if ref is not None and str(ref) not in self.datasets:
                return 404, {"detail": "reference_dataset_id names no dataset"}
            self.projects[name] = str(body.get("id") or uuid.uuid4())
            self.project_bodies[name] = body
            return 200, {"id": self.projects[name], "name": name, "start_time": self._now(),
                         "tenant_id": str(uuid.UUID(int=0)), "extra": body.get("extra"),
                         "reference_dataset_id": ref}

    def _query_v2(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The runs query API, as RunQueryV2Params documents it."""
        projects, dataset = body.get("project_ids"), body.get("reference_dataset_id")
        if bool(projects) == bool(dataset):
            return 422, {"detail": "set exactly one of project_ids and reference_dataset_id"}
        size = body.get("page_size", 100)
        if not isinstance(size, int) or not 1 <= size <= 1000:
            return 422, {"detail": "page_size must be between 1 and 1000"}
        selects = body.get("selects") or ["ID"]
        bad = [f for f in selects if f not in RUN_SELECT_FIELDS]
        if bad:
            return 422, {"detail": f"unknown selects: {bad}"}
        now = datetime.now(UTC)
        lo = _time(body.get("min_start_time")) or now - timedelta(days=1)
        hi = _time(body.get("max_start_time")) or now
        ids = set(body.get("ids") or [])
        with self._lock:
            runs = sorted((r for r in self.runs.values()
                           if r.get("session_id") in set(projects or [])
                           and (not ids or r["id"] in ids)
                           and lo <= (_time(r.get("start_time")) or now) <= hi
                           and (body.get("is_root") is None
                                or body["is_root"] == (not r.get("parent_run_id")))),
                          key=lambda r: r["id"])
        offset = int(body.get("cursor") or 0)
        page = runs[offset:offset + size]

        def view(r: dict[str, Any]) -> dict[str, Any]:
            full = {"ID": ("id", r["id"]), "INPUTS": ("inputs", r.get("inputs")),
                    "OUTPUTS": ("outputs", r.get("outputs")), "EXTRA": ("extra", r.get("extra")),
                    "METADATA": ("metadata", (r.get("extra") or {}).get("metadata")),
                    "START_TIME": ("start_time", r.get("start_time")),
                    "IS_ROOT": ("is_root", not r.get("parent_run_id")),
                    "NAME": ("name", r.get("name"))}
            return dict(full[f] for f in ["ID", *selects] if f in full)

        more = offset + size < len(runs)
        return 200, {"items": [view(r) for r in page],
                     "next_cursor": str(offset + size) if more else None}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if stub.keep_alive else "HTTP/1.0"

            def setup(self) -> None:  # once per connection
                super().setup()
                with stub._lock:
                    stub.connections += 1

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

            def _authorised(self) -> bool:
                if self.headers.get("x-api-key"):
                    return True
                self._send(401, {"detail": "missing x-api-key"})
                return False

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urlparse(self.path)
                q = parse_qs(url.query)
                stub.requests.append(("GET", url.path))
                if url.path != "/info" and not self._authorised():
                    return
                if url.path == "/info":
                    flags = {"ch_query_enabled": stub.backend != "smithdb",
                             "sdb_query_enabled": stub.backend != "clickhouse"}
                    version = "0.15.9" if stub.backend == "clickhouse" else "0.16.2"
                    self._send(200, {"version": version, "instance_flags": flags,
                                     "batch_ingest_config": {"use_multipart_endpoint": False,
                                                             "size_limit": 100,
                                                             "scale_up_qsize_trigger": 1000,
                                                             "scale_up_nthreads_limit": 1,
                                                             "scale_down_nempty_trigger": 4,
                                                             "size_limit_bytes": 20_000_000}})
                elif url.path == "/sessions":
                    with stub._lock:  # only projects that exist (runs were traced to them)
                        names = [n for n in q.get("name") or [] if n in stub.projects]
                    self._send(200, [{"id": stub.project_id(n), "name": n,
                                      "tenant_id": str(uuid.UUID(int=0)),
                                      "start_time": "2026-01-01T00:00:00",
                                      "reference_dataset_id": None} for n in names])
                elif url.path == "/datasets":
                    names = set(q.get("name") or [])
                    with stub._lock:
                        got = [d for d in stub.datasets.values() if not names or d["name"] in names]
                    self._send(200, got)
                elif url.path == "/examples":
                    sets = set(q.get("dataset") or [])
                    offset = int((q.get("offset") or ["0"])[0])
                    limit = int((q.get("limit") or ["100"])[0])
                    with stub._lock:
                        got = [e for e in stub.examples.values() if e["dataset_id"] in sets]
                    self._send(200, got[offset:offset + limit])
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
                if not self._authorised():
                    return
                if url.path == "/runs/batch":
                    for run in body.get("post") or []:
                        stub._post_run(run)
                    for patch in body.get("patch") or []:
                        stub._patch_run(str(patch["id"]), patch)
                    self._send(200, {})
                elif url.path == "/runs":
                    stub._post_run(body)
                    self._send(200, {})
                elif url.path == "/feedback" and stub.backend == "smithdb" and (
                        not body.get("session_id") or str(body["session_id"]) != (
                            stub.runs.get(str(body.get("run_id"))) or {}).get("session_id")):
                    self._send(404 if body.get("session_id") else 422,
                               {"detail": "a SmithDB-only deployment finds a run by its "
                                          "session_id: missing, or not the run's project"})
                elif url.path == "/feedback":
                    fid = str(body.get("id") or uuid.uuid4())
                    with stub._lock:
                        stub.feedback[fid] = {"trace_id": body.get("run_id"), **body, "id": fid,
                                              "run_id": str(body["run_id"]),
                                              "created_at": "2026-01-01T00:00:00",
                                              "modified_at": "2026-01-01T00:00:00"}
                    self._send(200, stub.feedback[fid])
                elif url.path == "/datasets":
                    self._send(*stub._create_dataset(body or {}))
                elif url.path == "/examples/bulk":
                    self._send(*stub._create_examples(body or []))
                elif url.path == "/sessions":
                    self._send(*stub._create_project(body or {}))
                elif url.path == "/runs/query" and stub.backend != "smithdb":
                    sessions = set(body.get("session") or [])
                    ids = set(body.get("id") or [])
                    start = _time(body.get("start_time"))
                    with stub._lock:
                        runs = [r for r in stub.runs.values()
                                if (not sessions or r.get("session_id") in sessions)
                                and (not ids or r["id"] in ids)
                                and (not start or (_time(r.get("start_time")) or start) >= start)
                                and (not body.get("is_root") or not r.get("parent_run_id"))]
                    self._send(200, {"runs": runs, "cursors": {"next": None}})
                elif url.path == "/api/v2/runs/query" and stub.backend != "clickhouse":
                    self._send(*stub._query_v2(body or {}))
                else:
                    self._send(404, {"detail": f"stub has no POST {url.path}"})

            def do_PATCH(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                stub.requests.append(("PATCH", url.path))
                if not self._authorised():
                    return
                stub._patch_run(url.path.split("/")[2], self._body() or {})
                self._send(200, {})

        return Handler
