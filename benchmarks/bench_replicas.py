"""The article's Stage 3 topology, measured: nginx in front of 1, then 2 ``switchyard serve``
replicas sharing one PostgreSQL, driven by the bench's workload, in one run (not a test).

For each topology the script creates a scratch database (``switchyard db migrate``'s schema, so
every topology starts with an empty shared cache), starts the replicas with the offline model and
simulated model latency, writes an nginx config (upstream with keepalive, the shape of
``deploy/nginx.conf``) into a temp prefix and runs nginx in the foreground from it, then replays
the same workload through nginx, closed-loop at a fixed concurrency, each request signed with
its user's JWT (``issue_token`` from ``service/auth.py``, as ``switchyard token`` does). It
reports throughput, p50/p95 latency, errors and cache hit rate per topology, the two/one ratio,
and the load average. Everything it starts is stopped on exit, Ctrl-C and failure included.

Throughput counts the requests completed while the queue still had work for every connection
(the tail, when the last slow answers finish one by one, measures no capacity); ``overall_rps``
is requests / wall time. The workload (``switchyard.bench.workload``): the article's 65/30/5 complexity mix, drawn from
the held-out split, from many users, with repeats by the same user, by other users, and
paraphrases. Follow-up rows (which need their thread's history) are left out: every request is
one message.

Run (nginx from Debian's packages; a server from ``scripts/dev-postgres.sh start``):
``.venv/bin/python benchmarks/bench_replicas.py --url postgresql://... [--home DIR] [--requests 1500]
[--concurrency 400] [--replicas 1,2]`` (``--home``: a SWITCHYARD_HOME where ``switchyard setup``
ran, to skip building one, which takes minutes). The concurrency is high on purpose: with the
simulated model latency a replica only shows its capacity once requests queue for its CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


class BenchError(RuntimeError):
    """A clear reason the run cannot go on (printed without a traceback)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nginx_config(prefix: Path, listen: int, upstreams: list[int]) -> str:
    """The same upstream/proxy shape as deploy/nginx.conf, for a foreground nginx whose every
    path (pid, logs, temp files) lives under ``prefix``."""
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in upstreams)
    temp = "\n".join(f"    {kind}_temp_path {prefix}/{kind}_temp;"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_processes 1;  # 2 cores here, shared with the replicas, Postgres and the load driver
events {{ worker_connections 4096; }}

http {{
    access_log off;
{temp}

    upstream switchyard {{
        least_conn;
{servers}
        keepalive 64;
    }}

    server {{
        listen 127.0.0.1:{listen};

        location / {{
            proxy_pass http://switchyard;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 300s;
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


class Processes:
    """Every process this script starts, each in its own session, stopped on ``close``."""

    def __init__(self) -> None:
        self.children: list[Child] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> Child:
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, cwd=REPO)
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def stop(self, child: Child, timeout_s: float = 15.0) -> None:
        proc = child.proc
        if proc.poll() is None:
            # Its own session: signal the group, which is exactly the processes it started.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if child in self.children:
            self.children.remove(child)

    def close(self) -> None:
        for child in reversed(list(self.children)):
            self.stop(child)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_ready(child: Child, url: str, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise BenchError(f"{child.name} exited with {child.proc.returncode}:\n{tail(child.log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise BenchError(f"{child.name} not ready after {timeout_s:g} s:\n{tail(child.log)}")


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"switchyard_replicas_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Request:
    text: str
    user_id: str


def workload(n: int, seed: int, home: Path) -> list[Request]:
    """The bench's workload for the replicas' home (its users, the cache TTLs of its settings)."""
    from switchyard.bench.workload import build_workload, load_rows
    from switchyard.core.settings import Settings

    settings = Settings(home=home)
    rows = [r for r in load_rows(settings.routing_data_dir / "test.jsonl") if not r.history]
    wl = build_workload(n, settings=settings, seed=seed, rows=rows)  # users: the home's database
    return [Request(r.text, r.user_id) for r in wl.requests]


async def drive(base: str, requests: list[Request], tokens: dict[str, str],
                concurrency: int, timeout_s: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    hits = answered = 0
    done_at: list[float] = []  # completion times (s from start), errors included
    drained_at: float | None = None  # when the last request was sent
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, timeout=timeout_s, limits=limits) as client:

        async def worker() -> None:
            nonlocal hits, answered, drained_at
            while not queue.empty():
                r = queue.get_nowait()
                t0 = time.perf_counter()
                if queue.empty():
                    drained_at = t0 - start
                try:
                    resp = await client.post("/v1/chat", json={"message": r.text}, headers={
                        "authorization": f"Bearer {tokens[r.user_id]}"})
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    done_at.append(time.perf_counter() - start)
                    continue
                done_at.append(time.perf_counter() - start)
                latencies.append((time.perf_counter() - t0) * 1000)
                if resp.status_code != 200:
                    key = f"HTTP {resp.status_code}"
                    errors[key] = errors.get(key, 0) + 1
                    continue
                answered += 1
                hits += bool(resp.json().get("cache_hit"))

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    lat = sorted(latencies)
    # Throughput while every worker had work: the run's tail (the last slow expert answers
    # finishing one by one) says nothing about capacity and would blur the comparison.
    steady = drained_at or wall
    return {
        "requests": len(requests),
        "wall_s": round(wall, 2),
        "throughput_rps": round(sum(t <= steady for t in done_at) / steady, 2),
        "overall_rps": round(len(requests) / wall, 2),
        "p50_ms": round(statistics.median(lat), 1) if lat else None,
        "p95_ms": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1) if lat else None,
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "cache_hit_rate": round(hits / answered, 4) if answered else None,
    }


def run_topology(n_replicas: int, args: argparse.Namespace, env: dict[str, str],
                 requests: list[Request], tokens: dict[str, str], workdir: Path,
                 procs: Processes) -> dict[str, Any]:
    from switchyard.pg.schema import migrate

    with scratch_database(args.url) as db_url:
        migrate(db_url)
        renv = {**env, "SWITCHYARD_DATABASE_URL": db_url}
        started: list[Child] = []
        try:
            ports = [free_port() for _ in range(n_replicas)]
            for i, port in enumerate(ports):
                started.append(procs.start(
                    f"replica {i + 1}",
                    [sys.executable, "-m", "switchyard", "serve", "--port", str(port),
                     "--log-level", "warning"],
                    renv, workdir / f"replica{n_replicas}-{i + 1}.log"))
            for child, port in zip(started, ports, strict=True):
                wait_ready(child, f"http://127.0.0.1:{port}/readyz", args.start_timeout)
            prefix = workdir / f"nginx{n_replicas}"
            prefix.mkdir()
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                (prefix / f"{kind}_temp").mkdir()
            listen = free_port()
            (prefix / "nginx.conf").write_text(nginx_config(prefix, listen, ports))
            nginx = procs.start("nginx", [args.nginx, "-p", str(prefix), "-c",
                                          str(prefix / "nginx.conf"), "-e",
                                          str(prefix / "error.log")],
                                env, prefix / "stdout.log")
            started.append(nginx)
            wait_ready(nginx, f"http://127.0.0.1:{listen}/healthz", 20)
            # Warm every replica (encoder, classifier, first connections) outside the timing,
            # with a question the workload never asks.
            warm_user = requests[0].user_id
            asyncio.run(drive(f"http://127.0.0.1:{listen}",
                              [Request("warm-up: what are your support hours?", warm_user)]
                              * (2 * n_replicas), tokens, 2 * n_replicas, args.timeout))
            load_before = os.getloadavg()
            result = asyncio.run(drive(f"http://127.0.0.1:{listen}", requests, tokens,
                                       args.concurrency, args.timeout))
            if result["errors"]:  # the logs go with the temp dir: show why now
                for child in started:
                    print(f"bench: {result['errors']} errors; {child.name}'s log ends with:\n"
                          f"{tail(child.log)}", file=sys.stderr)
            result["loadavg_1m_before"] = round(load_before[0], 2)
            result["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
            result["replicas"] = n_replicas
            return result
        finally:
            for child in reversed(started):
                procs.stop(child)


def ensure_home(home: Path, env: dict[str, str]) -> None:
    """A built SWITCHYARD_HOME (customer database, knowledge index, classifier) for the replicas."""
    if (home / "customers.sqlite").exists() and (home / "index").exists():
        return
    print(f"bench: building {home} (switchyard setup)...", file=sys.stderr)
    out = subprocess.run([sys.executable, "-m", "switchyard", "setup"], env=env, cwd=REPO,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise BenchError(f"switchyard setup failed:\n{(out.stdout + out.stderr)[-2000:]}")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default=os.environ.get("SWITCHYARD_DATABASE_URL"),
                    help="PostgreSQL server URL (default SWITCHYARD_DATABASE_URL); scratch "
                         "databases are created on it and dropped")
    ap.add_argument("--replicas", default="1,2", help="topologies to measure, e.g. 1,2")
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--concurrency", type=int, default=400)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=180.0, help="per request, seconds")
    ap.add_argument("--start-timeout", type=float, default=180.0, help="per replica, seconds")
    ap.add_argument("--home", type=Path, default=None,
                    help="SWITCHYARD_HOME with `switchyard setup` done (default: built in a "
                         "temp dir)")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    try:
        topologies = [int(x) for x in args.replicas.split(",")]
    except ValueError:
        topologies = []
    problems = []
    if not args.url:
        problems.append("no database: pass --url or set SWITCHYARD_DATABASE_URL "
                        "(scripts/dev-postgres.sh start prints one)")
    if not topologies or not all(1 <= t <= 16 for t in topologies):
        problems.append("--replicas takes comma-separated counts between 1 and 16, e.g. 1,2")
    if args.requests < 1 or args.concurrency < 1:
        problems.append("--requests and --concurrency must be at least 1")
    if not Path(args.nginx).exists():
        problems.append(f"nginx not found at {args.nginx}: apt-get install -y nginx, or --nginx")
    if problems:
        for p in problems:
            print(f"bench: {p}", file=sys.stderr)
        return 2

    from pydantic import SecretStr

    from switchyard.core.settings import Settings
    from switchyard.pg.pool import DatabaseUnavailable, check_reachable
    from switchyard.service.auth import issue_token

    try:
        check_reachable(args.url)
    except DatabaseUnavailable as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1

    # SIGTERM takes the same way out as Ctrl-C: through the finally blocks that stop everything.
    signal.signal(signal.SIGTERM, _interrupt)
    procs = Processes()
    auth_secret = secrets.token_hex(32)
    with tempfile.TemporaryDirectory(prefix="switchyard-replicas-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)  # nginx workers (user nobody) traverse it to their temp paths
        home = (args.home or workdir / "home").resolve()
        env = {
            **os.environ,
            "SWITCHYARD_HOME": str(home),
            "SWITCHYARD_OFFLINE": "true",
            "SWITCHYARD_SIMULATE_LATENCY": "true",
            "SWITCHYARD_AUTH": "jwt",
            "SWITCHYARD_AUTH_SECRET": auth_secret,
            "SWITCHYARD_SECRET": secrets.token_hex(32),  # every replica must share it
        }
        env.pop("SWITCHYARD_DATABASE_URL", None)
        report: dict[str, Any] = {"cpu_count": os.cpu_count(), "requests": args.requests,
                                  "concurrency": args.concurrency, "seed": args.seed,
                                  "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
        try:
            ensure_home(home, env)
            requests = workload(args.requests, args.seed, home)
            signer = Settings(auth_secret=SecretStr(auth_secret))
            tokens = {u: issue_token(signer, u, ttl_s=6 * 3600)
                      for u in {r.user_id for r in requests}}
            report["users"] = len(tokens)
            for n in topologies:
                print(f"bench: {n} replica(s) behind nginx...", file=sys.stderr)
                report[f"replicas_{n}"] = run_topology(n, args, env, requests, tokens, workdir,
                                                       procs)
        except BenchError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("bench: interrupted; stopping everything it started", file=sys.stderr)
            return 130
        finally:
            procs.close()
    one, two = report.get("replicas_1"), report.get("replicas_2")
    if one and two:
        report["two_over_one"] = {
            "throughput": round(two["throughput_rps"] / one["throughput_rps"], 2),
            "p50": round(two["p50_ms"] / one["p50_ms"], 2) if one["p50_ms"] else None,
            "p95": round(two["p95_ms"] / one["p95_ms"], 2) if one["p95_ms"] else None,
        }
    report["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
