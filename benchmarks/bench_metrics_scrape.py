"""What scraping ``/metrics`` costs the requests: one ``switchyard serve`` replica under a steady
closed-loop load, with and without a scraper, interleaved in one run (not a test).

The load is the bench's workload (its mix, users, repeats and paraphrases; offline model, no
simulated latency, so the replica's CPU is the bottleneck and any work a scrape adds shows), each
request signed with its user's JWT. The run alternates blocks without and with a scraper, in
ABBA order (off, on, on, off, ...) so drift in the machine's load falls on both. The scraper asks
for ``/metrics`` with an operator's token every ``--scrape-interval`` seconds (default 1 s: fifteen
times Prometheus' default rate); the store gauges are read at most every 15 s as configured by
default (``SWITCHYARD_OBSERVABILITY__STORE_REFRESH_S``). It reports each condition's median and
p95 latency, their difference and ratio, the scrape's own median duration, the load average,
and the added median per scrape a second (the achieved rate) scaled to Prometheus' 15 s:
resolvable only at a high rate (``--scrape-interval 0.1``), where the effect stands out of
the machine's noise.

Run: ``.venv/bin/python benchmarks/bench_metrics_scrape.py [--home DIR] [--rounds 12]
[--block-s 5] [--concurrency 8] [--scrape-interval 1]`` (``--home``: a SWITCHYARD_HOME where ``switchyard setup``
ran; without it one is built first, which takes minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_replicas import (  # noqa: E402 - the replica helpers of the sibling benchmark
    BenchError,
    Processes,
    ensure_home,
    free_port,
    wait_ready,
    workload,
)


class Scrapes:
    """When the next scrape is due, on the clock of the "on" blocks only: an interval longer
    than a block carries over to the next "on" block, as if the "off" blocks were not there."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.due_in = 0.0  # seconds of "on" time until the next scrape


async def block(base: str, requests: list[Any], tokens: dict[str, str], *, seconds: float,
                concurrency: int, scrapes: Scrapes | None, operator: str,
                rng: random.Random) -> dict[str, list[float]]:
    """Closed-loop load for ``seconds``; a scraper alongside when ``scrapes`` is given."""
    import httpx

    latencies: list[float] = []
    scrape_ms: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency + 2)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < stop:
                req = rng.choice(requests)
                t0 = time.perf_counter()
                resp = await http.post("/v1/chat", json={"message": req.text},
                                       headers={"authorization": f"Bearer {tokens[req.user_id]}"})
                if resp.status_code == 200:
                    latencies.append((time.perf_counter() - t0) * 1000.0)
                else:
                    errors += 1

        async def scraper(due: Scrapes) -> None:
            while True:
                left = stop - time.monotonic()
                if due.due_in >= left:  # not in this block: carry the rest over
                    due.due_in -= max(0.0, left)
                    return
                await asyncio.sleep(due.due_in)
                t0 = time.perf_counter()
                resp = await http.get("/metrics", headers={"authorization": f"Bearer {operator}"})
                if resp.status_code != 200:
                    raise BenchError(f"/metrics answered {resp.status_code}: {resp.text[:200]}")
                took = time.perf_counter() - t0
                scrape_ms.append(took * 1000.0)
                due.due_in = max(0.0, due.every - took)

        tasks = [worker() for _ in range(concurrency)]
        if scrapes is not None:
            tasks.append(scraper(scrapes))
        await asyncio.gather(*tasks)
    return {"latencies": latencies, "scrapes": scrape_ms, "errors": [float(errors)]}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scrape_cpu_ms(base: str, operator: str, pid: int, n: int = 100) -> float:
    """The replica's CPU per scrape, idle (no requests in flight): n scrapes, CPU delta / n."""
    import httpx

    headers = {"authorization": f"Bearer {operator}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        http.get("/metrics", headers=headers)
        before = cpu_seconds(pid)
        for _ in range(n):
            http.get("/metrics", headers=headers).raise_for_status()
        return (cpu_seconds(pid) - before) * 1000.0 / n


def summarise(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"n": len(ordered), "median_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2)}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # stop the replica on kill too
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", type=Path, help="a SWITCHYARD_HOME where setup ran")
    ap.add_argument("--rounds", type=int, default=12,
                    help="ABBA rounds (each: 2 blocks per side)")
    ap.add_argument("--block-s", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--scrape-interval", type=float, default=1.0)
    ap.add_argument("--requests", type=int, default=1000, help="workload size to draw from")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, help="write the result as JSON here too")
    args = ap.parse_args()

    from switchyard.core.settings import Settings
    from switchyard.service.auth import issue_token

    home = args.home or Path(tempfile.mkdtemp(prefix="switchyard-scrape-home-"))
    secret = secrets.token_hex(32)
    env = {**os.environ, "SWITCHYARD_HOME": str(home), "SWITCHYARD_OFFLINE": "true",
           "SWITCHYARD_AUTH": "jwt", "SWITCHYARD_AUTH_SECRET": secret,
           "SWITCHYARD_SECRET": secrets.token_hex(32), "HF_HUB_OFFLINE": "1",
           "SWITCHYARD_OBSERVABILITY__REQUEST_LOG": "off", "LANGSMITH_TRACING": "false"}
    env.pop("SWITCHYARD_DATABASE_URL", None)
    procs = Processes()
    try:
        ensure_home(home, env)
        requests = workload(args.requests, args.seed, home)
        signer = Settings(auth_secret=secret)
        tokens = {u: issue_token(signer, u, ttl_s=86400) for u in {r.user_id for r in requests}}
        operator = issue_token(signer, "bench-scraper", ttl_s=86400, roles=["operator"])
        port = free_port()
        logdir = Path(tempfile.mkdtemp(prefix="switchyard-scrape-"))
        child = procs.start("replica", [sys.executable, "-m", "switchyard", "serve", "--port",
                                        str(port), "--log-level", "warning"], env,
                            logdir / "replica.log")
        base = f"http://127.0.0.1:{port}"
        wait_ready(child, f"{base}/readyz", 300)
        rng = random.Random(args.seed)
        print("bench: warming up (one block, not counted)...", file=sys.stderr)
        asyncio.run(block(base, requests, tokens, seconds=args.block_s, concurrency=args.concurrency,
                          scrapes=None, operator=operator, rng=rng))
        due = Scrapes(args.scrape_interval)
        runs: dict[str, dict[str, list[float]]] = {
            side: {"latencies": [], "scrapes": [], "errors": []} for side in ("off", "on")}
        order = [side for _ in range(args.rounds) for side in ("off", "on", "on", "off")]
        load = []
        block_medians: list[tuple[str, float]] = []
        for i, side in enumerate(order, 1):
            got = asyncio.run(block(base, requests, tokens, seconds=args.block_s,
                                    concurrency=args.concurrency,
                                    scrapes=due if side == "on" else None,
                                    operator=operator, rng=rng))
            for key, values in got.items():
                runs[side][key] += values
            load.append(os.getloadavg()[0])
            block_medians.append((side, statistics.median(got["latencies"])))
            print(f"bench: block {i}/{len(order)} ({side}): {len(got['latencies'])} requests, "
                  f"median {block_medians[-1][1]:.1f} ms", file=sys.stderr)
        # Each ABBA round: mean of its two "on" block medians less its two "off" ones.
        paired = [statistics.mean(m for s, m in block_medians[j:j + 4] if s == "on")
                  - statistics.mean(m for s, m in block_medians[j:j + 4] if s == "off")
                  for j in range(0, len(block_medians), 4)]
        per_scrape_cpu = scrape_cpu_ms(base, operator, child.proc.pid)
        off, on = summarise(runs["off"]["latencies"]), summarise(runs["on"]["latencies"])
        on_seconds = args.block_s * order.count("on")
        rate = len(runs["on"]["scrapes"]) / on_seconds
        slope = (on["median_ms"] - off["median_ms"]) / rate if rate else float("nan")
        result = {
            "scrape_interval_s": args.scrape_interval, "concurrency": args.concurrency,
            "block_s": args.block_s, "rounds": args.rounds,
            "without_scraping": off, "with_scraping": on,
            "median_added_ms": round(on["median_ms"] - off["median_ms"], 2),
            "median_ratio": round(on["median_ms"] / off["median_ms"], 4),
            "p95_ratio": round(on["p95_ms"] / off["p95_ms"], 4),
            "paired_round_diff_ms": {"median": round(statistics.median(paired), 2),
                                     "rounds": [round(d, 2) for d in paired]},
            "scrape": summarise(runs["on"]["scrapes"]),
            # Idle: what one scrape costs the replica's CPU, and that as a share of it at the
            # achieved rate (a lower bound: requests also wait behind the interpreter lock).
            "scrape_cpu_ms": round(per_scrape_cpu, 2),
            "scrape_cpu_share": round(per_scrape_cpu / 1000.0 * rate, 5),
            # The achieved scrape rate (a scrape slower than the interval delays the next), the
            # added median per scrape a second, and that scaled to Prometheus' 15 s. Resolvable
            # only at a rate high enough to stand out of the machine's noise.
            "scrapes_per_s": round(rate, 3),
            "added_median_ms_per_scrape_per_s": round(slope, 2),
            "added_median_ms_at_15s": round(slope / 15.0, 3),
            "errors": {side: int(sum(runs[side]["errors"])) for side in runs},
            "load_average": [round(min(load), 2), round(max(load), 2)],
        }
        print(json.dumps(result, indent=2))
        if args.out:
            args.out.write_text(json.dumps(result, indent=2) + "\n")
        return 0
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            procs.close()


if __name__ == "__main__":
    sys.exit(main())
