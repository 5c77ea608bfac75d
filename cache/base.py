"""The cache interface the graph talks to; backends (embedded FAISS now, a shared one later) plug in.

The graph only ever sees :class:`SemanticCache`, :class:`Partition`, :class:`CachedAnswer`,
:class:`CacheVerdict` and :class:`FlightTicket`. A Redis/RedisVL backend would subclass
:class:`SemanticCache`, implement ``_lookup``/``store``/``_figures``/``_location``/``clear``/
``invalidate_public`` (partition = key prefix + tag filter applied *before* the KNN query, guard
unchanged) and get threshold resolution, the stats report, async wrappers and in-process
single-flight for free.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field

from switchyard.cache.guard import normalize_text
from switchyard.cache.singleflight import FlightTicket, SharedFlights, SingleFlight
from switchyard.core.privacy import keyed_hash
from switchyard.core.sealing import Seal, SealError, is_sealed
from switchyard.core.settings import CacheSettings

log = logging.getLogger(__name__)

TIERS = ("fast", "standard", "expert")
# Stored in the normalised-text column of intent-key entries. normalize_text() turns every
# control character into a space, so no question's text can ever collide with a key.
INTENT_KEY_PREFIX = "\x1fintent\x1f"
# The exact-match key of a personal entry: a keyed hash of its normalised text (never text).
SEALED_KEY_PREFIX = "\x1fh:"
_SCOPE_RE = re.compile(r"^(public|user:[0-9a-f]{16})$")
# Persisted lookup/store counters, the same names for every backend (``stats()["counters"]``).
COUNTERS = (
    "hits_exact",
    "hits_semantic",
    "misses",
    "guard_rejections",
    "verify_rejections",
    "hits_key",
    "stores",
    "store_refusals",
    "evictions",
    "expired_purged",
)
EVICTION_POLICY = "soonest-expiry-first (absolute TTL), after purging expired entries"


def user_scope(user_id: str, key: bytes) -> str:
    """Partition scope for one user: a keyed hash, so raw ids never reach disk, stats or traces
    and cannot be recovered by hashing every short id."""
    return "user:" + keyed_hash(key, "cache-scope", user_id)


@dataclass(frozen=True)
class Partition:
    """Hard partition, applied BEFORE any similarity search: entries never cross partitions."""

    tenant: str
    scope: str  # "public" or "user:<sha256(user_id)[:16]>", never the raw id
    tier: str  # fast|standard|expert
    versions: str  # f"p{prompt_version}-t{toolset_version}-kb{kb_version}"

    def __post_init__(self) -> None:
        if not _SCOPE_RE.match(self.scope):
            raise ValueError(f"invalid cache scope {self.scope!r} (use Partition.for_request)")
        if self.tier not in TIERS:
            raise ValueError(f"invalid tier {self.tier!r}")
        if not self.tenant or "|" in self.tenant or "|" in self.versions:
            raise ValueError("tenant/versions must be non-empty and must not contain '|'")

    @classmethod
    def for_request(
        cls,
        *,
        tenant: str,
        user_id: str | None,
        personal: bool,
        key: bytes | None = None,
        tier: str,
        prompt_version: str | int,
        toolset_version: str | int,
        kb_version: str | int,
    ) -> Partition:
        if personal:
            if not user_id or not key:
                # A personal answer without a user (or a key to hide them) has nowhere safe to
                # live: refuse loudly.
                raise ValueError("personal cache partition needs a user_id and a hash key")
            scope = user_scope(user_id, key)
        else:
            scope = "public"
        return cls(
            tenant=tenant,
            scope=scope,
            tier=tier,
            versions=f"p{prompt_version}-t{toolset_version}-kb{kb_version}",
        )

    @property
    def label(self) -> str:
        """Readable, unique, safe to log: contains the hashed scope only."""
        return f"{self.tenant}|{self.scope}|{self.tier}|{self.versions}"

    @property
    def kb_version(self) -> str:
        _, sep, kb = self.versions.rpartition("-kb")
        if sep:
            return kb
        return self.versions[2:] if self.versions.startswith("kb") else ""

    @property
    def is_public(self) -> bool:
        return self.scope == "public"

    @classmethod
    def from_label(cls, label: str) -> Partition:
        tenant, scope, tier, versions = label.split("|", 3)
        return cls(tenant=tenant, scope=scope, tier=tier, versions=versions)


class CachedAnswer(BaseModel):
    answer: str
    agent: str
    model: str
    sources: list[dict[str, Any]] = Field(default_factory=list)
    tools_used: list[str] = Field(default_factory=list)
    intent: str
    complexity: str
    created_at: float
    expires_at: float  # absolute; a hit never extends it
    original_text: str

    @classmethod
    def create(
        cls,
        *,
        answer: str,
        agent: str,
        model: str,
        intent: str,
        complexity: str,
        original_text: str,
        ttl_s: float,
        sources: list[dict[str, Any]] | None = None,
        tools_used: list[str] | None = None,
        now: float | None = None,
    ) -> CachedAnswer:
        created = time.time() if now is None else now
        return cls(
            answer=answer,
            agent=agent,
            model=model,
            sources=sources or [],
            tools_used=tools_used or [],
            intent=intent,
            complexity=complexity,
            created_at=created,
            expires_at=created + ttl_s,
            original_text=original_text,
        )


class CacheVerdict(BaseModel):
    hit: bool
    similarity: float | None = None
    partition: str  # Partition.label (hashed scope), "" when no lookup happened
    entry_age_s: float | None = None
    match: Literal["exact", "semantic", "key", "none"] = "none"
    reason: str = "miss"
    answer: CachedAnswer | None = None

    def metadata(self) -> dict[str, Any]:
        """Flat, trace-friendly view (no answer text)."""
        return {
            "cache_hit": self.hit,
            "cache_match": self.match,
            "cache_similarity": None if self.similarity is None else round(self.similarity, 4),
            "cache_partition": self.partition,
            "cache_entry_age_s": None if self.entry_age_s is None else round(self.entry_age_s, 3),
            "cache_reason": self.reason,
        }

    @classmethod
    def skipped(cls, reason: str, partition: Partition | None = None) -> CacheVerdict:
        return cls(hit=False, partition=partition.label if partition else "", reason=reason)


def intent_key(intent: str, slots: Mapping[str, object] | None = None) -> str:
    """Exact key for a personal-account intent and the slots that change its answer.

    ``intent_key("account_balance")`` and ``intent_key("invoice_status", {"invoice": "INV-1042"})``.
    Used in the user's own partition (the partition already holds ``hash(user_id)``), it makes
    "what's my balance?" and "how much do I owe?" hit with no similarity threshold, as in
    ``hash(user_id, "account_balance")``. Slot names and values are case-folded and trimmed;
    ``None`` values are dropped, so a missing slot never matches a present one.
    """
    name = intent.strip().casefold()
    if not name or not _KEY_PART_RE.fullmatch(name):
        raise ValueError(f"invalid intent for a cache key: {intent!r}")
    parts = []
    for key, value in sorted((slots or {}).items()):
        if value is None:
            continue
        k, v = str(key).strip().casefold(), normalize_text(str(value))
        if not k or not _KEY_PART_RE.fullmatch(k) or not v or "\x1f" in v:
            raise ValueError(f"invalid cache key slot {key!r}={value!r}")
        parts.append(f"{k}={v}")
    return INTENT_KEY_PREFIX + name + "\x1f" + "&".join(parts)


_KEY_PART_RE = re.compile(r"[a-z0-9_.:-]+")


def flight_key(text: str, partition: Partition) -> str:
    return f"{partition.label}\x1f{normalize_text(text)}"


@dataclass(frozen=True)
class StoreFigures:
    """What a backend measures for :meth:`SemanticCache.stats`; the report itself is built once,
    in the base class, so every backend reports the same fields."""

    entries: int
    bytes: int
    expired_pending_purge: int
    by_scope: Mapping[str, Mapping[str, int]]  # "public"/"user" -> {"partitions", "entries"}
    oldest_created_at: float | None
    newest_created_at: float | None
    soonest_expiry: float | None
    latest_expiry: float | None
    counters: Mapping[str, int]  # persisted totals, names from COUNTERS

    @classmethod
    def from_rows(cls, *, totals: tuple[int, int], times: tuple[Any, ...], expired: int,
                  scopes: Iterable[tuple[bool, int, int]],
                  counters: Mapping[str, int]) -> StoreFigures:
        """From the same queries on any backend: ``totals`` (entries, bytes), ``times`` (min/max
        created_at, min/max expires_at), ``scopes`` rows (is public, partitions, entries)."""
        oldest, newest, soonest, latest = times
        return cls(
            entries=totals[0], bytes=totals[1], expired_pending_purge=expired,
            by_scope={("public" if is_pub else "user"): {"partitions": p, "entries": c}
                      for is_pub, p, c in scopes},
            oldest_created_at=oldest, newest_created_at=newest,
            soonest_expiry=soonest, latest_expiry=latest, counters=counters,
        )


def verdict_counters(verdict: CacheVerdict) -> tuple[str, ...]:
    """The counters one lookup's verdict adds to (the same rules for every backend)."""
    if verdict.hit:
        return ({"exact": "hits_exact", "key": "hits_key"}.get(verdict.match, "hits_semantic"),)
    if verdict.reason.startswith("guard:"):
        return ("misses", "guard_rejections")
    if verdict.reason.startswith("verify:"):
        return ("misses", "verify_rejections")
    return ("misses",)


class SemanticCache(ABC):
    """Backend-independent cache API. Subclasses implement the synchronous core."""

    backend_name: ClassVar[str] = "abstract"

    def __init__(self, settings: CacheSettings | None = None, *,
                 hash_key: bytes | None = None) -> None:
        self.settings = settings or CacheSettings()
        # The deployment's key for user scopes (``clear(user_id=...)`` needs it).
        self.hash_key = hash_key
        # Personal entries are sealed at rest under a key derived from it (no key: a library
        # cache without a deployment, whose entries stay as they are given).
        self._seal = Seal(hash_key, "cache") if hash_key else None
        self._unreadable_logged = False
        # The flight's lease (``single_flight_timeout_s``): the longest a twin waits for a leader.
        self._flights = SingleFlight(lease_s=self.settings.single_flight_timeout_s)
        self._shared_flights: SharedFlights | None = None

    # -- personal data at rest ----------------------------------------------------------------
    # A personal partition's question text and answer are encrypted (AES-GCM), and its exact-
    # match keys (the normalised question, an intent key derived from it) are keyed hashes, so a
    # copied store holds none of them. Shared-partition entries are public by construction
    # (built from the help centre and the request's words alone) and stay in clear.
    def _sealing(self, partition: Partition) -> Seal | None:
        return None if partition.is_public else self._seal

    def _exact_key(self, partition: Partition, norm: str) -> str:
        """The stored exact-match key of a normalised text or intent key in ``partition``."""
        seal = self._sealing(partition)
        if seal is None:
            return norm
        if norm.startswith(INTENT_KEY_PREFIX):  # still recognisable as an intent key
            return INTENT_KEY_PREFIX + "h:" + seal.digest(norm)
        return SEALED_KEY_PREFIX + seal.digest(norm)

    def _seal_row(self, partition: Partition, text: str, norm: str,
                  payload: str) -> tuple[str, str, str]:
        """(text, exact key, answer payload) as they are written for ``partition``."""
        seal = self._sealing(partition)
        if seal is None:
            return text, norm, payload
        return seal.seal(text), self._exact_key(partition, norm), seal.seal(payload)

    def _open_text(self, value: str) -> str | None:
        """A stored text or payload in clear; None when it cannot be opened (another secret)."""
        if not is_sealed(value):
            return value
        if self._seal is None:
            self._cannot_open(SealError("a personal cache entry is encrypted and this cache "
                                        "was opened without the deployment's key"))
            return None
        try:
            return self._seal.open(value)
        except SealError as exc:
            self._cannot_open(exc)
            return None

    def _open_answer(self, payload: str) -> CachedAnswer | None:
        text = self._open_text(payload)
        return None if text is None else CachedAnswer.model_validate_json(text)

    def _cannot_open(self, exc: SealError) -> None:
        # Such an entry is a miss (never a crash, never a wrong answer); said once per process.
        if not self._unreadable_logged:
            self._unreadable_logged = True
            log.warning("cache entries skipped: %s", exc)

    def _flight_key(self, text: str, partition: Partition) -> str:
        """The single-flight key: with the deployment's key, a keyed hash of the question (the
        shared flights live in a database table while a request runs), else its text."""
        if self._seal is None:
            return flight_key(text, partition)
        return f"{partition.label}\x1f{self._seal.digest('flight:' + normalize_text(text))}"

    # -- the right to be forgotten -----------------------------------------------------------
    def forget_user(self, user_id: str) -> dict[str, int]:
        """Delete everything cached for ``user_id`` (their partitions, in every tenant, tier and
        version): ``{"cache_entries": n, "intent_keys": k}``."""
        if not self.hash_key:
            raise ValueError("forgetting a user's entries needs the deployment's hash key")
        norms = self._delete_scope(user_scope(user_id, self.hash_key))
        keys = sum(1 for n in norms if n.startswith(INTENT_KEY_PREFIX))
        return {"cache_entries": len(norms) - keys, "intent_keys": keys}

    @abstractmethod
    def _delete_scope(self, scope: str) -> list[str]:
        """Delete every entry of one scope; the stored exact keys of what was deleted."""

    # -- core (backend) ----------------------------------------------------------------------
    def lookup(
        self,
        text: str,
        embedding: np.ndarray,
        partition: Partition,
        *,
        now: float | None = None,
        threshold: float | None = None,
        intent: str | None = None,
    ) -> CacheVerdict:
        """Exact, then semantic. ``threshold`` None = the settings' threshold for the
        partition's tier and ``intent`` (``CacheSettings.threshold_for``)."""
        now = time.time() if now is None else now
        if threshold is None:
            threshold = self.settings.threshold_for(partition.tier, intent)
        return self._lookup(text, embedding, partition, now=now, threshold=threshold)

    @abstractmethod
    def _lookup(
        self, text: str, embedding: np.ndarray, partition: Partition, *, now: float,
        threshold: float,
    ) -> CacheVerdict:
        """The backend's search, with ``now`` and ``threshold`` already resolved."""

    @abstractmethod
    def store(
        self, text: str, embedding: np.ndarray, partition: Partition, answer: CachedAnswer
    ) -> bool: ...

    def lookup_key(self, key: str, partition: Partition, *, now: float | None = None) -> CacheVerdict:
        """Exact lookup of an :func:`intent_key` entry: no embedding, no threshold.
        (Backends without intent keys always miss.)"""
        return CacheVerdict(hit=False, partition=partition.label,
                            reason="intent keys not supported by this backend")

    def store_key(self, key: str, partition: Partition, answer: CachedAnswer,
                  embedding: np.ndarray | None = None) -> bool:
        """Store ``answer`` under an :func:`intent_key`; same TTL, bounds and clearing as any
        entry (``clear(intent=...)`` uses ``answer.intent``). Personal partitions only.
        ``embedding`` is the original request's, for backends whose rows need one.
        (Backends without intent keys store nothing.)"""
        return False

    @staticmethod
    def _key_verdict(label: str, now: float, times: tuple[float, float] | None,
                     load: Callable[[], CachedAnswer | None]) -> CacheVerdict:
        """An intent-key lookup's verdict from the entry's (created_at, expires_at), None if
        there is none; ``load`` reads its answer, only when it is still live."""
        missing = CacheVerdict(hit=False, partition=label, reason="miss: no entry for key")
        if times is None:
            return missing
        created, expires = times
        if expires <= now:
            return CacheVerdict(hit=False, partition=label, reason="miss: entry expired")
        answer = load()
        if answer is None:
            return missing
        return CacheVerdict(hit=True, partition=label, entry_age_s=max(0.0, now - created),
                            match="key", reason="intent key match", answer=answer)

    @staticmethod
    def _check_key(key: str, partition: Partition) -> None:
        if not key.startswith(INTENT_KEY_PREFIX):
            raise ValueError("store_key needs a key made by switchyard.cache.intent_key()")
        if partition.is_public:
            # A key says nothing about who asks: only a user's own partition makes it safe.
            raise ValueError("intent-key entries live in a user's partition, never the public one")

    @abstractmethod
    def _figures(self) -> StoreFigures:
        """Current sizes and persisted counters (flushing any buffered counter deltas first)."""

    @abstractmethod
    def _location(self) -> str:
        """Where the entries live, safe to show (a path, or a database URL without password)."""

    def stats(self) -> dict[str, Any]:
        f = self._figures()
        counters = {k: int(f.counters.get(k, 0)) for k in COUNTERS}
        hits = counters["hits_exact"] + counters["hits_semantic"] + counters["hits_key"]
        lookups = hits + counters["misses"]
        empty = {"partitions": 0, "entries": 0}
        s = self.settings
        return {
            "backend": self.backend_name,
            "path": self._location(),
            "entries": f.entries,
            "bytes": f.bytes,
            "expired_pending_purge": f.expired_pending_purge,
            "partitions": sum(v["partitions"] for v in f.by_scope.values()),
            "public": dict(f.by_scope.get("public", empty)),
            "user": dict(f.by_scope.get("user", empty)),
            "oldest_created_at": f.oldest_created_at,
            "newest_created_at": f.newest_created_at,
            "soonest_expiry": f.soonest_expiry,
            "latest_expiry": f.latest_expiry,
            "counters": counters,
            "hit_rate": (hits / lookups) if lookups else None,
            "limits": {
                "max_entries": s.max_entries,
                "max_bytes": s.max_bytes,
                "similarity_threshold": s.similarity_threshold,
                "tier_similarity_threshold": dict(s.tier_similarity_threshold),
                "intent_similarity_threshold": dict(s.intent_similarity_threshold),
                "verify_same_question": s.verify_same_question,
                "eviction": EVICTION_POLICY,
            },
        }

    @abstractmethod
    def clear(
        self, *, user_id: str | None = None, intent: str | None = None, tenant: str | None = None
    ) -> int: ...

    def _clear_filter(self, *, user_id: str | None, intent: str | None, tenant: str | None,
                      placeholder: str) -> tuple[list[str], tuple[Any, ...]]:
        """The conditions (all must hold) and parameters of :meth:`clear`, in the backend's
        SQL placeholder style; no condition means every entry."""
        where: list[str] = []
        params: list[Any] = []
        if user_id is not None:
            if not self.hash_key:
                raise ValueError("clearing a user's entries needs the deployment's hash key")
            where.append(f"scope = {placeholder}")
            params.append(user_scope(user_id, self.hash_key))
        if intent is not None:
            where.append(f"intent = {placeholder}")
            params.append(intent)
        if tenant is not None:
            where.append(f"tenant = {placeholder}")
            params.append(tenant)
        return where, tuple(params)

    @abstractmethod
    def invalidate_public(self, kb_version: str, *, tenant: str | None = None) -> int: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (flush counters, close files)."""

    # -- async wrappers: sync I/O (SQLite, FAISS) stays off the event loop -------------------
    async def alookup(
        self,
        text: str,
        embedding: np.ndarray,
        partition: Partition,
        *,
        now: float | None = None,
        threshold: float | None = None,
        intent: str | None = None,
    ) -> CacheVerdict:
        return await asyncio.to_thread(
            self.lookup, text, embedding, partition, now=now, threshold=threshold, intent=intent
        )

    async def alookup_key(
        self, key: str, partition: Partition, *, now: float | None = None
    ) -> CacheVerdict:
        return await asyncio.to_thread(self.lookup_key, key, partition, now=now)

    async def astore_key(self, key: str, partition: Partition, answer: CachedAnswer,
                         embedding: np.ndarray | None = None) -> bool:
        return await asyncio.to_thread(self.store_key, key, partition, answer, embedding)

    async def astore(
        self, text: str, embedding: np.ndarray, partition: Partition, answer: CachedAnswer
    ) -> bool:
        return await asyncio.to_thread(self.store, text, embedding, partition, answer)

    # -- single-flight -----------------------------------------------------------------------
    @property
    def single_flight_timeout_s(self) -> float:
        return self._flights.lease_s

    @single_flight_timeout_s.setter
    def single_flight_timeout_s(self, value: float) -> None:
        self._flights.lease_s = value

    @property
    def shares_flights(self) -> bool:
        """True when flights are also shared with other replicas (see :meth:`share_flights`)."""
        return self._shared_flights is not None

    def share_flights(self, flights: SharedFlights | None) -> None:
        """Put a cross-replica single-flight behind the in-process one (None: this process only)."""
        self._shared_flights = flights

    async def acquire_flight(self, text: str, partition: Partition) -> FlightTicket:
        """Leader computes; followers wait (at most the leader's lease), then look up again.

        The in-process flight always comes first (twins in this replica wait for free). With
        shared flights, only this replica's leader asks the other replicas: it leads if it wins
        the shared lease, otherwise it waits for the replica that leads (its own twins waiting
        on it), and comes back as a follower. The ticket stays plain data: the token is
        ``"<local>.<shared>"`` and :meth:`release_flight` splits it.
        """
        key = self._flight_key(text, partition)
        ticket = await self._flights.acquire(key)
        shared = self._shared_flights
        if not ticket.leader or shared is None:
            return ticket
        lease_s = self._flights.lease_s
        try:
            lease = await shared.acquire(key, lease_s)
        except Exception as exc:  # noqa: BLE001 - dedupe within this replica still holds
            log.warning("shared single-flight unavailable (%s): deduplicating in-process only",
                        exc)
            return ticket
        except BaseException:  # cancelled: our twins must not wait out the lease
            self._flights.release(key, ticket.token, False)
            raise
        if lease.leader:
            return replace(ticket, token=f"{ticket.token}.{lease.token}")
        try:
            result = await shared.wait(key, lease_s)
        except Exception as exc:  # noqa: BLE001 - look up again, then compute if needed
            log.warning("waiting on another replica's flight failed: %s", exc)
            self._flights.release(key, ticket.token, False)
            return FlightTicket(key=key, leader=False, timed_out=True)
        except BaseException:
            self._flights.release(key, ticket.token, False)
            raise
        stored = result.leader_stored
        # Our local twins wake now and look up again, as we will.
        self._flights.release(key, ticket.token, bool(stored))
        return FlightTicket(key=key, leader=False, waited_s=result.waited_s, leader_stored=stored,
                            timed_out=result.outcome in ("timeout", "lease_expired"))

    def release_flight(self, key: str, token: str, stored: bool) -> bool:
        """Wake the followers of the flight ``token`` leads; a no-op for stale or empty tokens.

        Sync, never blocks: the in-process flight ends now and a shared lease is released in
        the background (cancellation and error paths use this). If that never happens (the
        process died), the lease ends by itself: a dead leader costs at most one lease.
        """
        local, _, remote = token.partition(".")
        if remote and self._shared_flights is not None:
            self._shared_flights.release_soon(key, remote, stored)
        return bool(local) and self._flights.release(key, local, stored)

    async def arelease_flight(self, key: str, token: str, stored: bool) -> bool:
        """:meth:`release_flight`, waiting for the shared release (the normal path: replicas
        waiting on this flight wake before the run goes on)."""
        local, _, remote = token.partition(".")
        if remote and self._shared_flights is not None:
            try:
                await self._shared_flights.release(key, remote, stored)
            except Exception as exc:  # noqa: BLE001 - the lease ends by itself
                log.warning("could not release a shared single-flight lease (%s); it expires "
                            "by itself", exc)
        return bool(local) and self._flights.release(key, local, stored)
