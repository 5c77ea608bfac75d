"""What scraping ``/metrics`` costs the requests: one ``switchyard serve`` replica under a steady
closed-loop load, with and without a scraper, interleaved in one run (not a test).

The load is the bench's workload (its mix, users, repeats and paraphrases; offline model, no
simulated latency, so the replica's CPU is the bottleneck and any work a scrape adds shows), each
request signed with its user's JWT. The run alternates blocks without and with a scraper, in
ABBA order (off, on, on, off, ...) so drift in the machine's load falls on both. The scraper asks
for ``/metrics`` with an operator's token every ``--scrape-interval`` seconds (default 1 s: fifteen
times Prometheus' default rate); the store gauges are read at most every 15 s as configured by
default (``SWITCHYARD_OBSERVABILITY__STORE_REFRESH_S``). It reports each condition's median and
p95 latency, their difference and ratio, the scrape's own median duration, and the load average.

Run: ``.venv/bin/python benchmarks/bench_metrics_scrape.py [--home DIR] [--rounds 4]
[--block-s 20] [--concurrency 8]`` (``--home``: a SWITCHYARD_HOME where ``switchyard setup``
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


async def block(base: str, requests: list[Any], tokens: dict[str, str], *, seconds: float,
                concurrency: int, scrape_every: float | None, operator: str,
                rng: random.Random) -> dict[str, list[float]]:
    """Closed-loop load for ``seconds``; a scraper alongside when ``scrape_every`` is set."""
    import httpx

    latencies: list[float] = []
    scrapes: list[float] = []
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

        async def scraper() -> None:
            assert scrape_every is not None
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                resp = await http.get("/metrics", headers={"authorization": f"Bearer {operator}"})
                if resp.status_code != 200:
                    raise BenchError(f"/metrics answered {resp.status_code}: {resp.text[:200]}")
                scrapes.append((time.perf_counter() - t0) * 1000.0)
                await asyncio.sleep(max(0.0, scrape_every - (time.perf_counter() - t0)))

        tasks = [worker() for _ in range(concurrency)]
        if scrape_every is not None:
            tasks.append(scraper())
        await asyncio.gather(*tasks)
    return {"latencies": latencies, "scrapes": scrapes, "errors": [float(errors)]}


def summarise(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"n": len(ordered), "median_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", type=Path, help="a SWITCHYARD_HOME where setup ran")
    ap.add_argument("--rounds", type=int, default=4, help="ABBA rounds (each: 2 blocks per side)")
    ap.add_argument("--block-s", type=float, default=20.0)
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
        operator = issue_token(signer, "bench-scraper", ttl_s=86400, role="operator")
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
                          scrape_every=None, operator=operator, rng=rng))
        runs: dict[str, dict[str, list[float]]] = {
            side: {"latencies": [], "scrapes": [], "errors": []} for side in ("off", "on")}
        order = [side for _ in range(args.rounds) for side in ("off", "on", "on", "off")]
        load = []
        for i, side in enumerate(order, 1):
            got = asyncio.run(block(base, requests, tokens, seconds=args.block_s,
                                    concurrency=args.concurrency,
                                    scrape_every=args.scrape_interval if side == "on" else None,
                                    operator=operator, rng=rng))
            for key, values in got.items():
                runs[side][key] += values
            load.append(os.getloadavg()[0])
            print(f"bench: block {i}/{len(order)} ({side}): {len(got['latencies'])} requests, "
                  f"median {statistics.median(got['latencies']):.1f} ms", file=sys.stderr)
        off, on = summarise(runs["off"]["latencies"]), summarise(runs["on"]["latencies"])
        result = {
            "scrape_interval_s": args.scrape_interval, "concurrency": args.concurrency,
            "block_s": args.block_s, "rounds": args.rounds,
            "without_scraping": off, "with_scraping": on,
            "median_added_ms": round(on["median_ms"] - off["median_ms"], 2),
            "median_ratio": round(on["median_ms"] / off["median_ms"], 4),
            "p95_ratio": round(on["p95_ms"] / off["p95_ms"], 4),
            "scrape": summarise(runs["on"]["scrapes"]),
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
