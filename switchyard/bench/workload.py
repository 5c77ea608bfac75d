"""A deterministic benchmark workload drawn from the held-out labelled split.

The article's support traffic is the model: 65% low / 30% medium / 5% high complexity (by the
*true* label), from many users, with the repeats real support traffic has:

* ``repeat_same_user``  - the same user asks the same thing again (re-checks a balance, retries);
* ``repeat_other_user`` - another user asks the same question (popular public questions);
* ``paraphrase``        - the same need in other words (another held-out row with the same intent).

Every request gets a nominal arrival time (Poisson arrivals at ``arrival_rate_per_s``); a repeat
or paraphrase only points back to an earlier request whose age is within the cache TTL of its
complexity, so a correct cache *may* serve it. The bench replays the requests in arrival order,
closed-loop at a fixed concurrency, i.e. faster than nominal time: repeats stay within their TTLs.
Fresh requests cycle through the split without replacement, so texts only recur on their own once
the pool of a complexity is used up (reported as ``recurring`` in the summary).
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from switchyard.core.jsonsafe import json_lines
from switchyard.core.settings import TIER_FOR_COMPLEXITY, Settings

COMPLEXITIES: tuple[str, ...] = ("low", "medium", "high")
DEFAULT_MIX: tuple[float, float, float] = (0.65, 0.30, 0.05)
Kind = Literal["fresh", "repeat_same_user", "repeat_other_user", "paraphrase"]
OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True)
class LabelledRow:
    text: str
    complexity: str
    intent: str
    in_scope: bool = True
    requires_auth: bool = False
    history: tuple[str, ...] = ()
    # Outcome labels, when the data has them: how good each tier's answer is (0..1).
    outcomes: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class BenchRequest:
    idx: int
    ts: float  # nominal arrival, seconds from the start of the workload
    user_id: str
    text: str
    complexity: str  # true label
    intent: str  # true label
    in_scope: bool
    requires_auth: bool
    history: tuple[str, ...] = ()
    kind: Kind = "fresh"
    source_idx: int | None = None  # the request this one repeats or paraphrases
    outcomes: tuple[tuple[str, float], ...] = ()  # outcome labels per tier, if the data has them

    @property
    def oracle_tier(self) -> str:
        """The tier a perfect router would pick: by true complexity; off-topic is deflected by fast."""
        if not self.in_scope:
            return "fast"
        return TIER_FOR_COMPLEXITY[self.complexity]


@dataclass
class RepeatRates:
    """Probability that a request (after the first few) repeats an earlier one, per kind."""

    same_user: float = 0.15
    other_user: float = 0.10
    paraphrase: float = 0.10

    @property
    def total(self) -> float:
        return self.same_user + self.other_user + self.paraphrase


@dataclass
class Workload:
    requests: list[BenchRequest]
    seed: int
    mix: tuple[float, float, float]
    source: str
    repeat_rates: RepeatRates = field(default_factory=RepeatRates)
    arrival_rate_per_s: float = 1.0

    def __len__(self) -> int:
        return len(self.requests)

    def summary(self) -> dict[str, Any]:
        reqs = self.requests
        n = len(reqs) or 1
        by_c = Counter(r.complexity for r in reqs)
        kinds = Counter(r.kind for r in reqs)
        fresh_texts = Counter(r.text for r in reqs if r.kind == "fresh")
        return {
            "requests": len(reqs),
            "seed": self.seed,
            "source": self.source,
            "mix_requested": dict(zip(COMPLEXITIES, self.mix, strict=True)),
            "mix_actual": {c: round(by_c.get(c, 0) / n, 4) for c in COMPLEXITIES},
            "counts": {c: by_c.get(c, 0) for c in COMPLEXITIES},
            "kinds": {k: kinds.get(k, 0) for k in
                      ("fresh", "repeat_same_user", "repeat_other_user", "paraphrase")},
            "unique_texts": len({r.text for r in reqs}),
            "users": len({r.user_id for r in reqs}),
            "out_of_scope": sum(not r.in_scope for r in reqs),
            "follow_ups": sum(bool(r.history) for r in reqs),
            # Fresh draws of a text that was already drawn fresh (pool exhausted).
            "recurring": sum(c - 1 for c in fresh_texts.values() if c > 1),
            "arrival_rate_per_s": self.arrival_rate_per_s,
            "span_s": round(reqs[-1].ts, 1) if reqs else 0.0,
        }

    def to_jsonl(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as fh:
            for r in self.requests:
                fh.write(json.dumps(asdict(r)) + "\n")


def parse_mix(raw: str | Sequence[float]) -> tuple[float, float, float]:
    """``"0.65,0.30,0.05"`` (or percentages) -> normalised (low, medium, high) shares."""
    usage = "mix needs three non-negative shares for low,medium,high, e.g. 0.65,0.30,0.05"
    try:
        parts = [float(p) for p in (raw.split(",") if isinstance(raw, str) else raw)]
    except (TypeError, ValueError):
        raise ValueError(usage) from None
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise ValueError(usage)
    total = sum(parts)
    # nan, inf, or shares too large to add up (1e308,1e308,1): no proportions to draw by.
    if not all(math.isfinite(p) for p in parts) or not math.isfinite(total):
        raise ValueError(f"{usage}; each finite and their sum a finite number")
    return (parts[0] / total, parts[1] / total, parts[2] / total)


MAX_LINE_DEPTH = 8  # a labelled line nests 3 levels (object, outcomes / history / tools_needed)


class BenchDataError(ValueError):
    """A labelled file the bench cannot draw from: every problem found, each with its line."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        from switchyard.classifier.outcomes import MAX_REPORTED

        self.path = Path(path)
        self.problems = problems
        shown = problems[:MAX_REPORTED]
        more = f"; ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(f"{path}: " + "; ".join(shown) + more)


def _text(value: object, what: str, *, required: bool = True) -> str:
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"{what} must be a non-empty string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # valid JSON ("\ud800"), but no text a model can take
        raise ValueError(f"{what} holds an unpaired surrogate (at character {exc.start})") from None
    return value


def _flag(d: dict[str, Any], key: str, default: bool) -> bool:
    value = d.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValueError(f"{key!r} must be true or false (got {str(json.dumps(value))[:40]})")
    return value


def parse_row(d: object) -> LabelledRow:
    """One line's object as a :class:`LabelledRow`, or ValueError saying what is wrong."""
    if not isinstance(d, dict):
        raise ValueError("expected a JSON object with 'text' and 'complexity'")
    text = _text(d.get("text"), "'text'")
    complexity = d.get("complexity")
    if not isinstance(complexity, str) or complexity.strip().lower() not in COMPLEXITIES:
        shown = "missing" if "complexity" not in d else f"got {str(json.dumps(complexity))[:40]}"
        raise ValueError(f"'complexity' must be one of {', '.join(COMPLEXITIES)} ({shown})")
    complexity = complexity.strip().lower()
    raw_intent = d.get("intent")
    if raw_intent is not None and not isinstance(raw_intent, str):
        raise ValueError("'intent' must be a string")
    intent = raw_intent.strip() if raw_intent and raw_intent.strip() else f"general_{complexity}"
    history = d.get("history") or []
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        raise ValueError("'history' must be a list of strings")
    for h in history:
        _text(h, "'history'", required=False)
    outcomes: tuple[tuple[str, float], ...] = ()
    if "outcomes" in d or "weak" in d or "strong" in d:
        from switchyard.classifier.outcomes import parse_outcome

        outcomes = tuple(parse_outcome(d).outcomes.items())
    return LabelledRow(
        text=text, complexity=complexity, intent=intent,
        in_scope=_flag(d, "in_scope", intent != OUT_OF_SCOPE),
        requires_auth=_flag(d, "requires_auth", False),
        history=tuple(history), outcomes=outcomes,
    )


def load_rows(path: Path, mix: Sequence[float] | None = None) -> list[LabelledRow]:
    """Labelled rows (the bench's default: the held-out test split, ``settings.routing_data_dir /
    "test.jsonl"``). Only text + complexity are required; ``outcomes`` (or ``weak``/``strong``)
    are checked as outcome files are (docs/outcomes.md).

    The file is read whole and checked first: :class:`BenchDataError` lists every bad line
    ("line N: reason"). With ``mix``, each complexity it gives a share must have rows."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BenchDataError(path, [f"cannot read it ({exc.strerror or exc})"]) from None
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark (some editors write one)
        raw = raw[3:]
    rows: list[LabelledRow] = []
    problems: list[str] = []
    for n, obj, not_json in json_lines(raw, MAX_LINE_DEPTH):
        if not_json:
            problems.append(f"line {n}: {not_json}")
            continue
        try:
            rows.append(parse_row(obj))
        except ValueError as exc:
            problems.append(f"line {n}: {exc}")
    if problems:
        raise BenchDataError(path, problems)
    if not rows:
        raise BenchDataError(path, ["no labelled rows in the file (one JSON object a line, "
                                    "with 'text' and 'complexity')"])
    if mix is not None:
        missing = missing_complexities(rows, mix)
        if missing:
            raise BenchDataError(path, [
                f"no rows of complexity {c!r}, which --mix gives a share of the workload "
                "(add such rows, or give it a 0 share in --mix)" for c in missing])
    return rows


def missing_complexities(rows: Sequence[LabelledRow], mix: Sequence[float]) -> list[str]:
    """Complexities the mix draws from that ``rows`` have none of."""
    have = {r.complexity for r in rows}
    return [c for c, share in zip(COMPLEXITIES, mix, strict=True) if share > 0 and c not in have]


def load_user_ids(db_path: Path, limit: int = 2000) -> list[str]:
    """Active users among the first ``limit`` ids of the seeded customer database.

    Only *active* accounts: invited, locked and deactivated users cannot sign in to the support
    widget, so they do not send signed-in traffic. ``u-0001``..``u-<limit>`` without a database.
    """
    if Path(db_path).exists():
        try:
            with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as con:
                ids = [r[0] for r in con.execute(
                    "SELECT id FROM (SELECT id, status FROM users ORDER BY length(id), id LIMIT ?) "
                    "WHERE status = 'active' ORDER BY length(id), id", (limit,))]
            if ids:
                return ids
        except sqlite3.Error:
            pass
    return [f"u-{i:04d}" for i in range(1, limit + 1)]


def _counts(n: int, mix: Sequence[float]) -> list[int]:
    """Largest-remainder apportionment: the counts match the mix as closely as integers can."""
    raw = [n * m for m in mix]
    counts = [int(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _ttl_window(complexity: str, ttl: dict[str, float | None]) -> float:
    value = ttl.get(complexity)
    # High complexity is never cached; people still re-ask, within the low TTL window.
    return float(value if value else ttl.get("low") or 600.0)


def build_workload(
    n: int,
    *,
    settings: Settings,
    mix: Sequence[float] = DEFAULT_MIX,
    seed: int = 7,
    rows: Sequence[LabelledRow] | None = None,
    users: Sequence[str] | None = None,
    repeat_rates: RepeatRates | None = None,
    arrival_rate_per_s: float = 1.0,
    source: str = "data/routing/test.jsonl",
) -> Workload:
    """``n`` requests in the given complexity mix, deterministic for a given ``seed``.

    ``rows`` default to the test split in ``settings.routing_data_dir``, ``users`` to the active
    users of the customer database at ``settings.db_path``; repeats fall inside the cache TTLs."""
    from switchyard.bench import MAX_REQUESTS

    if n <= 0:
        raise ValueError("the workload needs at least one request")
    if n > MAX_REQUESTS:
        raise ValueError(f"the workload holds at most {MAX_REQUESTS:,} requests (asked for {n:,})")
    mix = parse_mix(mix)
    rng = random.Random(seed)
    rows = list(rows) if rows is not None else load_rows(settings.routing_data_dir / "test.jsonl")
    users = list(users) if users is not None else load_user_ids(settings.db_path)
    rates = repeat_rates or RepeatRates()
    pools = {c: [r for r in rows if r.complexity == c] for c in COMPLEXITIES}
    for c, share in zip(COMPLEXITIES, mix, strict=True):
        if share > 0 and not pools[c]:
            raise ValueError(f"no labelled rows of complexity {c!r} to draw from")
    by_intent: dict[tuple[str, str], list[LabelledRow]] = {}
    for r in rows:
        if not r.history:
            by_intent.setdefault((r.complexity, r.intent), []).append(r)

    slots = [c for c, k in zip(COMPLEXITIES, _counts(n, mix), strict=True) for _ in range(k)]
    rng.shuffle(slots)
    decks: dict[str, list[LabelledRow]] = {c: [] for c in COMPLEXITIES}

    def draw(c: str) -> LabelledRow:
        if not decks[c]:  # reshuffle the pool once it is used up
            decks[c] = rng.sample(pools[c], len(pools[c]))
        return decks[c].pop()

    out: list[BenchRequest] = []
    ts = 0.0
    for idx, c in enumerate(slots):
        ts += rng.expovariate(arrival_rate_per_s)
        window = _ttl_window(c, settings.cache.ttl_s)
        u = rng.random()
        kind: Kind = "fresh"
        if u < rates.same_user:
            kind = "repeat_same_user"
        elif u < rates.same_user + rates.other_user:
            kind = "repeat_other_user"
        elif u < rates.total:
            kind = "paraphrase"
        req: BenchRequest | None = None
        if kind != "fresh":
            # Earlier requests of the same true complexity still inside the TTL window.
            eligible = [p for p in out[-400:] if p.complexity == c and ts - p.ts <= window]
            if kind != "repeat_same_user":
                eligible = [p for p in eligible if not p.history]  # follow-ups belong to a thread
            if eligible:
                src = rng.choice(eligible)
                root = src.idx  # the request it copies, within the TTL window
                if kind == "repeat_same_user":
                    req = BenchRequest(idx, ts, src.user_id, src.text, src.complexity, src.intent,
                                       src.in_scope, src.requires_auth, src.history, kind, root,
                                       src.outcomes)
                elif kind == "repeat_other_user":
                    other = rng.choice([x for x in users if x != src.user_id] or users)
                    req = BenchRequest(idx, ts, other, src.text, src.complexity, src.intent,
                                       src.in_scope, src.requires_auth, (), kind, root,
                                       src.outcomes)
                else:
                    alts = [r for r in by_intent.get((c, src.intent), []) if r.text != src.text]
                    if alts:
                        alt = rng.choice(alts)
                        # A personal question is re-asked by its owner; a public one by anyone.
                        who = src.user_id if alt.requires_auth else rng.choice(users)
                        req = BenchRequest(idx, ts, who, alt.text, alt.complexity, alt.intent,
                                           alt.in_scope, alt.requires_auth, (), kind, root,
                                           alt.outcomes)
        if req is None:
            row = draw(c)
            req = BenchRequest(idx, ts, rng.choice(users), row.text, row.complexity, row.intent,
                               row.in_scope, row.requires_auth, row.history, "fresh", None,
                               row.outcomes)
        out.append(req)
    return Workload(out, seed, mix, source, rates, arrival_rate_per_s)
