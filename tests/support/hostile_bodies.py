"""Send hostile bodies to a server from a process of its own (so the sender's CPU is not the
measured client's): ``python hostile_bodies.py URL SECONDS [TOKEN]``.

Three senders post ~1 MB bodies of 110,000 unknown keys without a token; with TOKEN a fourth
posts them as a signed-in user. Bounded in time and count; prints how many were answered, by
status, as JSON.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter

import httpx

BODY = json.dumps({"message": "hi", **{f"{i:x}": 1 for i in range(110_000)}},
                  separators=(",", ":")).encode()
MAX_REQUESTS = 2_000


def main() -> None:
    url, seconds = sys.argv[1], float(sys.argv[2])
    token = sys.argv[3] if len(sys.argv) > 3 else None
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def send(headers: dict[str, str]) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while time.monotonic() < stop_at and sum(statuses.values()) < MAX_REQUESTS:
                resp = client.post("/v1/chat", content=BODY,
                                   headers={**headers, "content-type": "application/json"})
                with lock:
                    statuses[resp.status_code] += 1

    senders = [{} for _ in range(3)] + ([{"authorization": f"Bearer {token}"}] if token else [])
    threads = [threading.Thread(target=send, args=(h,)) for h in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({str(k): v for k, v in statuses.items()}))


if __name__ == "__main__":
    main()
