"""Local classifier: linear heads + a kNN vote on the sentence embedding. $0, well under 1 ms.

Fitting (scikit-learn, a few seconds) happens at first use or with ``switchyard route train``;
inference is plain numpy on the request's embedding (computed once and shared with the cache).
The fitted model is stored as ``model.<sha>.npz`` (no pickle) and ``lexicon.<sha>.json``, named
by ``manifest.json`` with their sha256 and the training data's hash, so a changed data file
triggers a refit and a tampered model file is refused. The manifest, renamed into place last,
commits a save (switchyard.core.fileset): a save that fails half-way keeps the previous model.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from switchyard.classifier.data import Example, files_hash, iter_labeled, load_labeled
from switchyard.classifier.lexical import Lexicon
from switchyard.classifier.outcome_model import OutcomeModel, tier_prices
from switchyard.classifier.schema import Classification
from switchyard.core.domain import COMPLEXITIES, COMPLEXITY_FOR_TIER, INTENTS, OUT_OF_SCOPE
from switchyard.core.fileset import FileSet, named_file, sha256_of
from switchyard.core.settings import TIER_FOR_COMPLEXITY, Settings
from switchyard.encoder.embedder import Embedder

log = logging.getLogger(__name__)

MODEL_VERSION = 5  # bump when the feature set / file layout changes: forces a refit
_LEVEL = {c: i for i, c in enumerate(COMPLEXITIES)}
TOP_INTENTS = 5  # intents (with probabilities) reported in Classification.intent_scores

# Hyper-parameters chosen by 5-fold CV on train+dev (scripts/tune_classifier.py); never on test.
DEFAULT_HPARAMS: dict[str, float] = {
    "C_complexity": 4.0,
    "C_intent": 16.0,
    "C_followup": 2.0,
    "C_lex_complexity": 8.0,
    "C_lex_intent": 16.0,
    # Share of the lexical (word TF-IDF) heads in the complexity and intent distributions.
    "w_lex": 0.5,
    "w_direct": 0.4,  # mixture weights for the complexity distribution
    "w_intent": 0.6,
    "w_knn": 0.0,  # the kNN vote did not help on dev once the data grew; kept as an option
    "knn_k": 7,
    "knn_temp": 0.05,  # softmax temperature over cosine similarities
    # Sharpen (<1) the mixed distribution before the cost decision: the mixture is soft, and
    # unsharpened the 20x under-routing penalty over-routed ~20% of dev requests.
    "temperature": 0.2,
    "oos_threshold": 0.4,
    "oos_threshold_high": 0.5,
    "followup_threshold": 0.5,
}

_FOLLOWUP_START = re.compile(
    r"^\s*(and|also|but|so|ok|okay|k|yes|yep|yeah|yup|sure|please|pls|go|do it|continue|same|"
    r"what about|how about|now|then|make it|sounds|great|right|correct|no|nope|perfect|fine)\b",
    re.IGNORECASE,
)
# Words that point back at something said earlier ("do that", "include it too").
_ANAPHORA = re.compile(
    r"\b(that|this|it|those|them|these|also|too|instead|same|as well|what now|next step|one before|"
    r"previous one|the first|option \d)\b",
    re.IGNORECASE,
)
# Explicit topic changes: the new request is judged on its own.
_NEW_TOPIC = re.compile(
    r"\b(different (topic|question)|new (topic|question)|unrelated|separately|next thing|another thing|"
    r"other question|also,? (a|one) (quick )?question)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")


def followup_cue(text: str) -> bool:
    """Short and continuation-like: cheap, domain-independent evidence of a follow-up."""
    words = len(_WORD.findall(text))
    if _NEW_TOPIC.search(text):
        return False
    return (words <= 8 and bool(_FOLLOWUP_START.match(text))) or (words <= 10 and bool(_ANAPHORA.search(text)))


def new_topic(text: str) -> bool:
    return bool(_NEW_TOPIC.search(text))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _extra_features(texts: Sequence[str]) -> np.ndarray:
    """Length and shape cues the embedding under-weights (long multi-part asks tend to be harder)."""
    out = np.zeros((len(texts), 5), dtype=np.float32)
    for i, t in enumerate(texts):
        words = len(_WORD.findall(t))
        out[i, 0] = np.log1p(words) / 4.0
        out[i, 1] = min(t.count("?") + t.count("."), 6) / 6.0
        out[i, 2] = 1.0 if re.search(r"\b\d[\d,.]*\s*(k|gb|tb|users|seats|employees|workflows)\b", t, re.I) else 0.0
        out[i, 3] = 1.0 if followup_cue(t) else 0.0
        out[i, 4] = 1.0 if _ANAPHORA.search(t) else 0.0
    return out


def features(emb: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    emb = np.atleast_2d(emb).astype(np.float32)
    return np.hstack([emb, _extra_features(texts)])


@dataclass
class IntentMeta:
    complexity: str
    requires_auth: bool
    tools: list[str]


@dataclass
class LocalModel:
    """Everything inference needs, as plain arrays (saved with np.savez, loaded without pickle)."""

    W_c: np.ndarray
    b_c: np.ndarray
    W_i: np.ndarray
    b_i: np.ndarray
    W_f: np.ndarray
    b_f: np.ndarray
    bank: np.ndarray  # training embeddings for the kNN vote (n, 384)
    bank_c: np.ndarray  # their complexity index
    W_lc: np.ndarray  # lexical complexity head over the lexicon's columns
    b_lc: np.ndarray
    W_li: np.ndarray  # lexical intent head
    b_li: np.ndarray
    lexicon: Lexicon
    intents: list[str]
    intent_meta: dict[str, IntentMeta]
    hparams: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_HPARAMS))
    has_followup_head: bool = True
    # How this process got the model, for a person ("fitted on 1,407 requests in 3.1 s");
    # not saved.
    provenance: str = field(default="loaded", compare=False)

    # -- inference ---------------------------------------------------------------------------
    def predict(self, emb: np.ndarray, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectorised scores for a batch: complexity distribution, intent probs, follow-up prob."""
        hp = self.hparams
        x = features(emb, texts)
        p_direct = _softmax(x @ self.W_c.T + self.b_c)
        p_int = _softmax(x @ self.W_i.T + self.b_i)
        if hp["w_lex"] > 0:
            w = hp["w_lex"]
            z_c, z_i = self.lexicon.logits(texts, [(self.W_lc, self.b_lc), (self.W_li, self.b_li)])
            p_direct = (1 - w) * p_direct + w * _softmax(z_c)
            p_int = (1 - w) * p_int + w * _softmax(z_i)
        # Complexity implied by the intent head; out-of-scope mass follows the direct head.
        to_level, any_level = self._intent_levels()
        p_implied = p_int @ to_level + (p_int @ any_level)[:, None] * p_direct
        p_knn = np.zeros_like(p_direct)
        if hp["w_knn"] > 0:
            sims = np.atleast_2d(emb) @ self.bank.T
            k = min(int(hp["knn_k"]), sims.shape[1] - 1)
            top = np.argpartition(-sims, kth=k, axis=1)[:, :k]
            wts = _softmax(np.take_along_axis(sims, top, axis=1) / hp["knn_temp"])
            for c in range(len(COMPLEXITIES)):
                p_knn[:, c] = (wts * (self.bank_c[top] == c)).sum(axis=1)
        p = hp["w_direct"] * p_direct + hp["w_intent"] * p_implied + hp["w_knn"] * p_knn
        if hp["temperature"] != 1.0:
            p = _softmax(np.log(np.clip(p, 1e-9, 1.0)) / hp["temperature"])
        p_f = 1.0 / (1.0 + np.exp(-(x @ self.W_f.T + self.b_f)))[:, 0]
        return {"p": p, "p_intent": p_int, "p_followup": p_f}

    def _intent_levels(self) -> tuple[np.ndarray, np.ndarray]:
        """(K, 3) one-hot of each intent's complexity, and (K,) mask of intents without one."""
        cached = getattr(self, "_levels", None)
        if cached is None:
            to_level = np.zeros((len(self.intents), 3), dtype=np.float32)
            any_level = np.zeros(len(self.intents), dtype=np.float32)
            for j, name in enumerate(self.intents):
                lvl = _LEVEL.get(self.intent_meta[name].complexity)
                if lvl is None:
                    any_level[j] = 1.0
                else:
                    to_level[j, lvl] = 1.0
            cached = self._levels = (to_level, any_level)
        return cached

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: Path, data_hash: str, source: str, encoder: str) -> None:
        """Arrays, lexicon and manifest as one generation (see switchyard.core.fileset): a save
        that fails half-way leaves the model that was there before, whole."""
        with FileSet(directory, "manifest.json") as files:
            arrays = files.add("model", ".npz", lambda p: np.savez(
                p, W_c=self.W_c, b_c=self.b_c, W_i=self.W_i, b_i=self.b_i, W_f=self.W_f,
                b_f=self.b_f, bank=self.bank, bank_c=self.bank_c, W_lc=self.W_lc, b_lc=self.b_lc,
                W_li=self.W_li, b_li=self.b_li, lex_idf=self.lexicon.idf))
            lexicon = files.add("lexicon", ".json", lambda p: p.write_text(
                json.dumps(self.lexicon.terms, ensure_ascii=False), encoding="utf-8"))
            files.commit({
                "version": MODEL_VERSION,
                "data_hash": data_hash,
                "source": source,
                # The vectors the heads were fitted on: other vectors (another encoder) refit them.
                "encoder": encoder,
                "files": {"model": arrays.name, "lexicon": lexicon.name},
                "model_sha256": arrays.sha256,
                "lexicon_sha256": lexicon.sha256,
                "intents": self.intents,
                "intent_meta": {k: vars(v) for k, v in self.intent_meta.items()},
                "hparams": self.hparams,
                "has_followup_head": self.has_followup_head,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            })

    @classmethod
    def load(cls, directory: Path) -> tuple[LocalModel, dict]:
        manifest = json.loads((directory / "manifest.json").read_text())
        npz = named_file(directory, manifest, "model", before="model.npz")
        if sha256_of(npz) != manifest["model_sha256"]:
            raise ValueError(f"{npz} does not match the sha256 in its manifest; refusing to load it")
        lex = named_file(directory, manifest, "lexicon", before="lexicon.json")
        if sha256_of(lex) != manifest["lexicon_sha256"]:
            raise ValueError(f"{lex} does not match the sha256 in its manifest; refusing to load it")
        with np.load(npz, allow_pickle=False) as arrs:
            a = {k: arrs[k] for k in arrs.files}
        lexicon = Lexicon(list(json.loads(lex.read_text(encoding="utf-8"))), a.pop("lex_idf"))
        model = cls(
            **a,
            lexicon=lexicon,
            intents=list(manifest["intents"]),
            intent_meta={k: IntentMeta(**v) for k, v in manifest["intent_meta"].items()},
            hparams={**DEFAULT_HPARAMS, **manifest["hparams"]},
            has_followup_head=manifest.get("has_followup_head", True),
        )
        return model, manifest


# -- fitting ---------------------------------------------------------------------------------
def _intent_meta(rows: Sequence[Example]) -> dict[str, IntentMeta]:
    """Per-intent metadata: the bundled catalogue when it knows the intent, else the rows' majority."""
    by: dict[str, list[Example]] = {}
    for r in rows:
        by.setdefault(r.intent, []).append(r)
    meta: dict[str, IntentMeta] = {}
    for name, rs in by.items():
        known = INTENTS.get(name)
        if name == OUT_OF_SCOPE:
            meta[name] = IntentMeta("any", False, [])
        elif known is not None:
            meta[name] = IntentMeta(known.complexity, known.requires_auth, list(known.tools))
        else:
            comp = Counter(r.complexity for r in rs).most_common(1)[0][0]
            auth = sum(r.requires_auth for r in rs) * 2 > len(rs)
            tools = Counter(tuple(r.tools_needed) for r in rs).most_common(1)[0][0]
            meta[name] = IntentMeta(comp, auth, list(tools))
    return meta


def fit(
    rows: Sequence[Example],
    embeddings: np.ndarray,
    hparams: dict[str, float] | None = None,
) -> LocalModel:
    """Fit the heads. ``embeddings`` are the rows' text embeddings, in order."""
    from threadpoolctl import threadpool_limits

    # Multi-threaded BLAS on these small problems spends its time contending for the CPU with
    # torch and other processes (14 s vs 0.13 s measured for the intent head): use one thread.
    with threadpool_limits(1):
        return _fit(rows, embeddings, hparams)


def _lr_head(x: np.ndarray, y: np.ndarray, n_classes: int, C: float, balanced: bool) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression as full (n_classes, d) weights + biases.

    Classes absent from ``y`` get a -30 bias (probability ~0); a single present class wins always.
    """
    from sklearn.linear_model import LogisticRegression

    W = np.zeros((n_classes, x.shape[1]), dtype=np.float32)
    b = np.full(n_classes, -30.0, dtype=np.float32)
    present = sorted(set(y.tolist()))
    if len(present) == 1:
        b[present[0]] = 0.0
        return W, b
    clf = LogisticRegression(C=C, max_iter=3000, class_weight="balanced" if balanced else None).fit(x, y)
    coef, icpt = clf.coef_, clf.intercept_
    if len(present) == 2:  # binary LR stores one row; expand to two logits
        coef, icpt = np.vstack([-coef / 2, coef / 2]), np.array([-icpt[0] / 2, icpt[0] / 2])
    for j, c in enumerate(clf.classes_):
        W[c], b[c] = coef[j], icpt[j]
    return W, b


def _fit(rows: Sequence[Example], embeddings: np.ndarray, hparams: dict[str, float] | None) -> LocalModel:
    hp = {**DEFAULT_HPARAMS, **(hparams or {})}
    texts = [r.text for r in rows]
    x_all = features(embeddings, texts)
    # Heads learn from standalone requests; a follow-up's label belongs to its conversation.
    standalone = np.array([not r.follow_up for r in rows])
    x = x_all[standalone]
    sa_rows = [r for r, s in zip(rows, standalone, strict=True) if s]
    sa_texts = [r.text for r in sa_rows]
    y_c = np.array([_LEVEL[r.complexity] for r in sa_rows])
    intents = sorted({r.intent for r in sa_rows})
    y_i = np.array([intents.index(r.intent) for r in sa_rows])
    W_c, b_c = _lr_head(x, y_c, 3, hp["C_complexity"], balanced=True)
    W_i, b_i = _lr_head(x, y_i, len(intents), hp["C_intent"], balanced=False)
    lexicon = Lexicon.fit(sa_texts)
    x_lex = lexicon.sparse(sa_texts)
    W_lc, b_lc = _lr_head(x_lex, y_c, 3, hp["C_lex_complexity"], balanced=True)
    W_li, b_li = _lr_head(x_lex, y_i, len(intents), hp["C_lex_intent"], balanced=False)
    y_f = np.array([r.follow_up for r in rows], dtype=int)
    has_f = int(y_f.sum()) >= 10 and int(y_f.sum()) < len(rows)
    if has_f:
        W_f2, b_f2 = _lr_head(x_all, y_f, 2, hp["C_followup"], balanced=True)
        # One logit for P(follow-up): the difference of the two class logits.
        W_f, b_f = (W_f2[1:] - W_f2[:1]), (b_f2[1:] - b_f2[:1])
    else:  # too few labelled follow-ups: rely on the cue heuristic only
        W_f, b_f = np.zeros((1, x.shape[1]), np.float32), np.full(1, -30.0, np.float32)
    return LocalModel(
        W_c=W_c, b_c=b_c, W_i=W_i, b_i=b_i, W_f=W_f, b_f=b_f,
        bank=embeddings[standalone].astype(np.float32), bank_c=y_c.astype(np.int64),
        W_lc=W_lc, b_lc=b_lc, W_li=W_li, b_li=b_li, lexicon=lexicon,
        intents=intents, intent_meta=_intent_meta(sa_rows), hparams=hp, has_followup_head=has_f,
    )


# Fewer labelled requests than this and the pack's own rows cannot fit a router: the router is
# fitted on the generic, domain-free requests in FALLBACK_FILE instead (complexity only: their
# intents are ``general_<complexity>`` and ``out_of_scope``), plus the pack's rows as
# complexity-only examples. ``switchyard setup`` says so.
MIN_LABELLED_TO_FIT = 6
FALLBACK_FILE = Path(__file__).with_name("fallback.jsonl")


def count_labelled(files: Sequence[Path], stop_at: int | None = None) -> int:
    """Labelled rows in ``files``; with ``stop_at``, reading stops once that many are found (a
    process start only needs to know whether there are enough: reading the whole of a large
    file cost ~0.1 s per start)."""
    count = 0
    for f in files:
        for _ in iter_labeled(f):
            count += 1
            if stop_at is not None and count >= stop_at:
                return count
    return count


def default_training_files(routing_data_dir: Path) -> list[Path]:
    """The files the router is fitted on: the pack's train.jsonl and dev.jsonl (the test split is
    never used for fitting; dev was used only to pick hyper-parameters), and the generic fallback
    set when they hold fewer than ``MIN_LABELLED_TO_FIT`` requests (or do not exist)."""
    train, dev = routing_data_dir / "train.jsonl", routing_data_dir / "dev.jsonl"
    files = [f for f in (train, dev) if f.is_file()]
    if count_labelled(files, stop_at=MIN_LABELLED_TO_FIT) < MIN_LABELLED_TO_FIT:
        files.append(FALLBACK_FILE)
    return files


def fallback_warning(routing_data_dir: Path) -> str | None:
    """The warning a person gets when the pack has too few labelled requests to fit on."""
    files = default_training_files(routing_data_dir)
    if FALLBACK_FILE not in files:
        return None
    n = count_labelled([f for f in files if f != FALLBACK_FILE])
    return (f"only {n} labelled requests in {routing_data_dir / 'train.jsonl'} (fewer than "
            f"{MIN_LABELLED_TO_FIT}): the router falls back to complexity-only routing on "
            "generic examples (no intents, so no intent's tools or fixed actions; out-of-scope "
            "requests still go to the fast tier); label requests to route by intent")


def _complexity_only(rows: list[Example]) -> list[Example]:
    """The pack's rows with their intents folded into ``general_<complexity>`` (out of scope
    stays): too few of them to learn intents from."""
    for r in rows:
        if r.intent != OUT_OF_SCOPE:
            r.intent, r.requires_auth, r.tools_needed = f"general_{r.complexity}", False, []
    return rows


def train_from_files(files: Sequence[Path], directory: Path, embedder: Embedder,
                     source: str = "bundled") -> LocalModel:
    """Fit on labelled files and save the model in ``directory``."""
    rows: list[Example] = []
    for f in files:
        rows.extend(load_labeled(f))
    if Path(FALLBACK_FILE) in [Path(f) for f in files]:
        rows = _complexity_only(rows)
        log.warning("classifier: fewer than %d labelled requests; fitting complexity-only "
                    "routing on the generic fallback examples", MIN_LABELLED_TO_FIT)
    if len(rows) < MIN_LABELLED_TO_FIT:
        raise ValueError(f"need at least {MIN_LABELLED_TO_FIT} labelled rows to train "
                         f"(found {len(rows)})")
    t0 = time.perf_counter()
    emb = embedder.embed([r.text for r in rows])
    model = fit(rows, emb)
    model.save(directory, _data_hash(files), source, encoder=embedder.vectors_id)
    seconds = time.perf_counter() - t0
    model.provenance = f"fitted on {len(rows):,} labelled requests in {seconds:.1f} s"
    log.info("classifier %s", model.provenance)
    return model


def _data_hash(files: Sequence[Path]) -> str:
    # The default hyper-parameters are part of the fingerprint: changing them refits the bundled
    # model instead of silently serving one fitted with the old values.
    hparams = hashlib.sha256(json.dumps(DEFAULT_HPARAMS, sort_keys=True).encode()).hexdigest()[:8]
    return f"v{MODEL_VERSION}-h{hparams}:" + files_hash(list(files))


def load_or_fit(directory: Path, embedder: Embedder, routing_data_dir: Path) -> LocalModel:
    """The fitted model in ``directory``: loaded if current, else refitted from the bundled
    labelled data in ``routing_data_dir`` (or the user's own file it was last trained on)."""
    directory = Path(directory)
    model: LocalModel | None = None
    files, source = default_training_files(routing_data_dir), "bundled"
    if (directory / "manifest.json").exists():
        try:
            manifest = json.loads((directory / "manifest.json").read_text())
            trained_on = str(manifest.get("source", ""))
            custom = Path(trained_on.removeprefix("custom:"))
            if trained_on.startswith("custom:") and custom.is_file():
                # A model trained on the user's own file stays theirs: refits (a new model
                # format) use that file again, not the bundled data.
                files, source = [custom], trained_on
            if manifest.get("version") != MODEL_VERSION:
                log.info("classifier model format changed (v%s -> v%s): refitting",
                         manifest.get("version"), MODEL_VERSION)
            else:
                model, manifest = LocalModel.load(directory)
                # A model trained on the user's own file stays until `route train` is run again.
                if source == "bundled" and manifest.get("data_hash") != _data_hash(files):
                    model = None
                elif manifest.get("encoder") != embedder.vectors_id:
                    log.info("classifier heads were fitted on other vectors (%s, now %s): "
                             "refitting", manifest.get("encoder"), embedder.vectors_id)
                    model = None
        except (ValueError, KeyError, OSError, AttributeError) as exc:
            log.warning("refitting classifier: %s", exc)
            model = None
    if model is None:
        model = train_from_files(files, directory, embedder, source)
    return model


# -- the classifier --------------------------------------------------------------------------
def cost_matrix(
    error_costs: dict[str, dict[str, float]] | None = None,
    price_weight: float | None = None,
    *,
    settings: Settings,
) -> np.ndarray:
    """The routing decision's cost[true, routed] over complexities: the asymmetric error costs
    plus, in every row, ``price_weight`` x the routed tier's typical request price relative to the
    expert's. Routing to a tier costs its price whatever the truth is, so an uncertain request
    goes to the cheaper tier unless a miss is likely enough to outweigh the money."""
    from switchyard.llm.accounting import typical_request_cost

    cs = settings.classifier
    costs = error_costs if error_costs is not None else cs.error_costs
    weight = cs.price_weight if price_weight is None else price_weight
    q = np.array([[costs[t][r] for r in COMPLEXITIES] for t in COMPLEXITIES], dtype=np.float64)
    if weight:
        price = np.array([typical_request_cost(TIER_FOR_COMPLEXITY[c], settings) for c in COMPLEXITIES])
        q = q + weight * (price / price.max())[None, :]
    return q


def decide(p: np.ndarray, costs: np.ndarray) -> int:
    """Pick the complexity whose expected cost under ``costs`` (see :func:`cost_matrix`) is lowest."""
    return int(np.argmin(p @ costs))


class LocalClassifier:
    name = "local"

    def __init__(self, settings: Settings, embedder: Embedder,
                 model: LocalModel | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self._model = model
        self._load_lock = threading.Lock()
        # The routing decision's cost matrix depends only on settings: computed once.
        self._costs = cost_matrix(settings=settings)
        # The outcome head (route train --outcomes) and its tiers' relative prices, loaded with
        # the model; None: route by the complexity decision.
        self._outcome: OutcomeModel | None = None
        self._outcome_prices: np.ndarray | None = None
        if model is not None:
            self._load_outcome()

    def _load_outcome(self) -> None:
        try:
            head = OutcomeModel.load(self.settings.classifier_path)
        except (ValueError, KeyError, OSError) as exc:
            log.warning("routing by complexity: the outcome head cannot be used (%s)", exc)
            head = None
        self._outcome = head
        self._outcome_prices = tier_prices(head.tiers, self.settings) if head else None

    def operating_point(self) -> dict[str, object]:
        """How this classifier routes, for a person (``switchyard models``, ``/readyz``)."""
        head = self.outcome
        cs = self.settings.classifier
        if head is None:
            return {"router": "complexity", "exploration_share": cs.exploration_share}
        return {"router": "outcomes", "tiers": list(head.tiers), "trained_on": head.source,
                "n_outcomes": head.n_rows, "outcome_cost_weight": cs.outcome_cost_weight,
                "exploration_share": cs.exploration_share}

    @property
    def outcome(self) -> OutcomeModel | None:
        """The outcome head, when the router was trained on outcomes."""
        self.model  # noqa: B018 - loaded together
        return self._outcome

    @property
    def model(self) -> LocalModel:
        """The fitted model, loaded (or fitted) once, on first use."""
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._load_outcome()
                    self._model = load_or_fit(self.settings.classifier_path, self.embedder,
                                              self.settings.routing_data_dir)
        return self._model

    def reload(self) -> LocalModel:
        """Forget the fitted model (after ``route train``) and load it again."""
        with self._load_lock:
            self._model = None
            self._outcome = None
        return self.model

    # Single request -----------------------------------------------------------------------
    def classify(
        self,
        text: str,
        *,
        embedding: np.ndarray | None = None,
        history: list[str] | None = None,
        history_embeddings: np.ndarray | None = None,
    ) -> Classification:
        t0 = time.perf_counter()
        turns = self._turns(history)
        if embedding is None:
            embedding = self.embedder.embed_one(text)
        if turns and history_embeddings is None:
            history_embeddings = np.vstack([self.embedder.embed_one(h) for h in turns])
        out = self._classify_batch([text], np.atleast_2d(embedding), [turns], [history_embeddings])[0]
        out.latency_ms = (time.perf_counter() - t0) * 1000
        return out

    async def aclassify(
        self, text: str, *, embedding: np.ndarray | None = None, history: list[str] | None = None
    ) -> Classification:
        t0 = time.perf_counter()
        emb = self.embedder
        turns = self._turns(history)
        if embedding is None:
            embedding = await emb.aembed_one(text)
        # History turns join the embedder's micro-batch together (one forward pass).
        h_emb = np.vstack(await asyncio.gather(*(emb.aembed_one(h) for h in turns))) if turns else None
        if self._model is None:  # first use may fit the model: keep that off the event loop
            await asyncio.to_thread(lambda: self.model)
        out = self._classify_batch([text], np.atleast_2d(embedding), [turns], [h_emb])[0]
        out.latency_ms = (time.perf_counter() - t0) * 1000
        return out

    # Many requests (CLI, eval): one batched embedding pass --------------------------------
    def classify_many(
        self, texts: Sequence[str], histories: Sequence[list[str] | None] | None = None
    ) -> list[Classification]:
        t0 = time.perf_counter()
        histories = histories or [None] * len(texts)
        turns = [self._turns(h) for h in histories]
        flat = list(texts) + [t for ts in turns for t in ts]
        # Real traffic repeats itself ("hi", "I forgot my password"): embed each distinct text once.
        uniq = list(dict.fromkeys(flat))
        u_emb = self.embedder.embed(uniq) if uniq else np.zeros((0, 384), np.float32)
        index = {t: i for i, t in enumerate(uniq)}
        emb = u_emb[[index[t] for t in flat]] if flat else u_emb
        main, rest = emb[: len(texts)], emb[len(texts) :]
        h_embs: list[np.ndarray | None] = []
        pos = 0
        for ts in turns:
            h_embs.append(rest[pos : pos + len(ts)] if ts else None)
            pos += len(ts)
        out = self._classify_batch(list(texts), main, turns, h_embs)
        per = (time.perf_counter() - t0) * 1000 / max(1, len(texts))
        for c in out:
            c.latency_ms = per
        return out

    # Internals ----------------------------------------------------------------------------
    def _turns(self, history: list[str] | None) -> list[str]:
        n = self.settings.classifier.history_turns
        return [h for h in (history or []) if h and h.strip()][-n:] if n > 0 else []

    def _classify_batch(
        self,
        texts: list[str],
        emb: np.ndarray,
        turns: list[list[str]],
        h_embs: list[np.ndarray | None],
    ) -> list[Classification]:
        m = self.model
        costs = self._costs
        hp = m.hparams
        pred = m.predict(emb, texts)
        # History turns: scored in one batch, each as a standalone request.
        flat_t = [t for ts in turns for t in ts]
        hist_pred = None
        flat_h = np.vstack([h for h in h_embs if h is not None]) if flat_t else None
        if flat_t:
            hist_pred = m.predict(flat_h, flat_t)
        head, prices = self._outcome, self._outcome_prices
        if head is not None and prices is not None:
            weight = self.settings.classifier.outcome_cost_weight
            quality = head.quality(emb, texts)
            choice = head.choose(quality, prices, weight)
            hist_choice = (head.choose(head.quality(flat_h, flat_t), prices, weight)
                           if flat_t else None)
        results: list[Classification] = []
        pos = 0
        for i, text in enumerate(texts):
            p = pred["p"][i]
            p_int = pred["p_intent"][i]
            follow = False
            reason = ""
            outcome_level: int | None = None
            if head is not None:
                outcome_level = int(choice[i])
            if turns[i] and hist_pred is not None:
                n = len(turns[i])
                hp_c = hist_pred["p"][pos : pos + n]
                hp_i = hist_pred["p_intent"][pos : pos + n]
                h_choice = hist_choice[pos : pos + n] if head is not None else None
                pos += n
                # How likely this turn continues the conversation (cues raise, topic changes zero it).
                p_f = float(pred["p_followup"][i])
                if followup_cue(text):
                    p_f = max(p_f, 0.9)
                if new_topic(text):
                    p_f = 0.0
                # The conversation's complexity and intent are those of its hardest turn (the
                # latest one on ties): "sounds good" after a migration question stays a migration.
                levels = [decide(hp_c[j], costs) for j in range(n)]
                hard = max(j for j in range(n) if levels[j] == max(levels))
                # Mixing by p_f and deciding by expected cost inherits the conversation's tier
                # whenever a miss would be costly, and lets the reply itself only raise it.
                p_conv = hp_c[hard]
                mixed = p_f * p_conv + (1.0 - p_f) * p
                if p_f >= hp["followup_threshold"]:
                    follow = True
                    own = decide(p, costs)
                    if p[own] >= 0.8 and own > decide(p_conv, costs):
                        mixed = p  # the reply is clearly harder than what came before
                    p_int = hp_i[hard]
                    reason = f"follow-up (p={p_f:.2f}): inherits the conversation's complexity and intent; "
                    if outcome_level is not None and h_choice is not None:
                        # A follow-up needs at least the tier its conversation needed.
                        outcome_level = max(outcome_level, int(h_choice.max()))
                p = mixed
            level = decide(p, costs)
            complexity = COMPLEXITIES[level]
            if outcome_level is not None:
                complexity = COMPLEXITY_FOR_TIER[head.tiers[outcome_level]]
                level = _LEVEL[complexity]
            j = int(np.argmax(p_int))
            intent = m.intents[j]
            in_scope = True
            if OUT_OF_SCOPE in m.intents:
                p_oos = float(p_int[m.intents.index(OUT_OF_SCOPE)])
                # Wrongly deflecting a hard in-scope request costs far more than a wasted call,
                # so a high-complexity request needs stronger evidence to be deflected.
                thr = hp["oos_threshold_high"] if complexity == "high" else hp["oos_threshold"]
                in_scope = p_oos < thr
                if in_scope and intent == OUT_OF_SCOPE:
                    # Best in-scope intent when out_of_scope won the argmax but not the threshold.
                    masked = p_int.copy()
                    masked[m.intents.index(OUT_OF_SCOPE)] = -1
                    intent = m.intents[int(np.argmax(masked))]
                elif not in_scope:
                    intent = OUT_OF_SCOPE
            meta = m.intent_meta.get(intent, IntentMeta(complexity, False, []))
            agent = TIER_FOR_COMPLEXITY[complexity] if in_scope else "fast"  # deflect cheaply
            scores = {c: round(float(v), 4) for c, v in zip(COMPLEXITIES, p, strict=True)}
            top = np.argsort(-p_int)[:TOP_INTENTS]
            intent_scores = {m.intents[k]: round(float(p_int[k]), 4) for k in top}
            if outcome_level is not None:
                q_i = quality[i]
                reason += (f"intent {intent} (p={float(p_int[j]):.2f}); outcome-trained choice "
                           f"{head.tiers[outcome_level]} (predicted quality "
                           + ", ".join(f"{t} {v:.2f}" for t, v in zip(head.tiers, q_i, strict=True))
                           + f"; cost weight {self.settings.classifier.outcome_cost_weight:g})")
            else:
                reason += f"intent {intent} (p={float(p_int[j]):.2f}); expected-cost choice {complexity}"
            if not in_scope:
                reason += "; out of scope: polite deflection by the fast agent"
            results.append(
                Classification(
                    complexity=complexity,
                    requires_auth=meta.requires_auth if in_scope else False,
                    tools_needed=list(meta.tools) if in_scope else [],
                    recommended_agent=agent,
                    reasoning=reason,
                    confidence=round(float(p[level]), 4),
                    intent=intent,
                    in_scope=in_scope,
                    scores=scores,
                    intent_scores=intent_scores,
                    quality=({t: round(float(v), 4) for t, v in zip(head.tiers, quality[i], strict=True)}
                             if head is not None else {}),
                    follow_up=follow,
                    classifier=self.name,
                )
            )
        return results
