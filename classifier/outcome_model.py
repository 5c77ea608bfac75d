"""The outcome head: per request, the predicted quality of each tier, learnt from outcomes.

Fitted by ``switchyard route train --outcomes FILE`` (or ``--from-feedback``) beside the
classifier's own heads, which it leaves alone: intents, scope and follow-ups still come from the
labelled data the classifier was fitted on. At request time it reads the embedding the router
already computed, projected on a few principal directions, plus a handful of cheap text shape
features (length, numbers, sentences, clauses, questions): one small matrix product, no new model
call.

For each tier scored in the training data a logistic regression predicts P(good answer | request)
(soft labels: a judge's 0.7 counts as 0.7 of a success). The route is the tier that maximises
``predicted quality - cost_weight x price`` (prices relative to the dearest tier), so one number,
``classifier.outcome_cost_weight``, is the quality-cost dial that ``route calibrate`` sets.

The hyper-parameters below are fixed for every outcome file (the same defaults serve any data).
They were picked from a small grid (principal directions 4-32, C 0.01-0.1) whose APGR on
RouteLLM's GSM8K outcomes, cross-validated, spanned 0.636-0.650 (with the first 15 text features);
the two clause features were added later, on the same file, with those defaults unchanged (APGR
0.646 -> 0.661): see docs/outcomes.md.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from switchyard.classifier.outcomes import TIER_NAMES, Outcome
from switchyard.core.fileset import FileSet, named_file, sha256_of

OUTCOME_VERSION = 2  # 2: two clause features added to the text features
OUTCOME_HPARAMS: dict[str, float] = {"components": 16, "C": 0.05}
_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_SENT_END = re.compile(r"[.!?](?:\s|$)")
_DECIMAL = re.compile(r"\d+\.\d+")
_FRACTION = re.compile(r"\d+/\d+")
# Clause boundaries: punctuation that joins clauses, and the English connectives and distributive
# quantifiers that add a step to a request ("..., and then", "if", "each", "per"). A structural
# cue (how many steps a request chains), not a topic word list.
_CLAUSE = re.compile(r"[,;:]|\b(?:and|but|if|then|while|after|before|each|every|per)\b")
N_TEXT_FEATURES = 17


# Standardised inputs (directions and text features) are clipped to this many standard
# deviations. Fitted on a few dozen ratings, a direction or count that barely varies gets a
# tiny scale, and a new request that differs along it was scored far outside anything the head
# saw: a fast-tier quality of 1.0 for a near-duplicate of requests the fast tier failed.
FEATURE_CLIP = 4.0
ROWS_PER_DIRECTION = 8


def text_features(texts: Sequence[str]) -> np.ndarray:
    """Shape cues any outcome data may carry: length, numbers and quantities, sentences,
    clauses, questions, operators. Domain-free (no topic words), microseconds per request."""
    out = np.zeros((len(texts), N_TEXT_FEATURES), dtype=np.float32)
    for i, t in enumerate(texts):
        words = len(t.split())
        nums = _NUM.findall(t)
        sents = max(1, len(_SENT_END.findall(t)))
        clauses = len(_CLAUSE.findall(t.lower()))  # lower(): 4x faster than IGNORECASE
        out[i] = (
            np.log1p(len(t)), np.log1p(words), np.log1p(len(nums)), len(nums) / max(words, 1),
            np.log1p(sents), t.count("?"), np.log1p(sum(len(n) for n in nums)),
            np.log1p(len(set(nums))), float("%" in t), float("$" in t),
            np.log1p(sum(1 for c in t if c in "+-*/=")), words / sents,
            np.log1p(max((len(n) for n in nums), default=0)),
            float(bool(_DECIMAL.search(t))), float(bool(_FRACTION.search(t))),
            np.log1p(clauses), clauses / max(words, 1),
        )
    return out


@dataclass
class OutcomeModel:
    """Everything inference needs, as plain arrays (np.savez, loaded without pickle)."""

    tiers: list[str]  # tiers with a quality head, cheapest first
    mean: np.ndarray  # (384,) embedding mean
    components: np.ndarray  # (k, 384) principal directions, scaled to unit variance
    feat_mean: np.ndarray  # (m,) text features
    feat_scale: np.ndarray
    W: np.ndarray  # (len(tiers), k + m)
    b: np.ndarray  # (len(tiers),)
    n_rows: int = 0
    hparams: dict[str, float] = field(default_factory=lambda: dict(OUTCOME_HPARAMS))
    source: str = ""
    provenance: str = field(default="loaded", compare=False)

    def _x(self, emb: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        z = (np.atleast_2d(emb).astype(np.float32) - self.mean) @ self.components.T
        f = (text_features(texts) - self.feat_mean) / self.feat_scale
        return np.clip(np.hstack([z, f]), -FEATURE_CLIP, FEATURE_CLIP)

    def quality(self, emb: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """(n, len(tiers)) predicted probability that each tier's answer is good."""
        logits = self._x(emb, texts) @ self.W.T + self.b
        return 1.0 / (1.0 + np.exp(-logits))

    def gain(self, emb: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Predicted quality gained by the dearest tier over the cheapest: the score the
        quality-cost curve (APGR, CPT) sweeps."""
        q = self.quality(emb, texts)
        return q[:, -1] - q[:, 0]

    def choose(self, quality: np.ndarray, prices: np.ndarray, cost_weight: float) -> np.ndarray:
        """Index (into ``tiers``) of the tier maximising quality - cost_weight x price."""
        return np.argmax(quality - cost_weight * prices[None, :], axis=1)

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Arrays and manifest as one generation (see switchyard.core.fileset): a save that
        fails half-way leaves the head that was there before, whole."""
        with FileSet(directory, "outcome.json") as files:
            arrays = files.add("outcome", ".npz", lambda p: np.savez(
                p, mean=self.mean, components=self.components, feat_mean=self.feat_mean,
                feat_scale=self.feat_scale, W=self.W, b=self.b))
            files.commit({"version": OUTCOME_VERSION, "tiers": self.tiers, "n_rows": self.n_rows,
                          "hparams": self.hparams, "source": self.source,
                          "files": {"arrays": arrays.name}, "sha256": arrays.sha256,
                          "created": time.strftime("%Y-%m-%dT%H:%M:%S")})

    @classmethod
    def load(cls, directory: Path) -> OutcomeModel | None:
        """The saved head, None when there is none; ValueError when it is damaged or stale."""
        path = directory / "outcome.json"
        if not path.exists():
            return None
        manifest = json.loads(path.read_text())
        if manifest.get("version") != OUTCOME_VERSION:
            raise ValueError(f"{path} is an older outcome head format: run `switchyard route "
                             "train --outcomes FILE` again")
        npz = named_file(directory, manifest, "arrays", before="outcome.npz")
        if sha256_of(npz) != manifest["sha256"]:
            raise ValueError(f"{npz} does not match the sha256 in its manifest; refusing to load it")
        with np.load(npz, allow_pickle=False) as arrs:
            a = {k: arrs[k] for k in arrs.files}
        return cls(tiers=list(manifest["tiers"]), n_rows=int(manifest["n_rows"]),
                   hparams=dict(manifest["hparams"]), source=str(manifest.get("source", "")), **a)

    @staticmethod
    def remove(directory: Path) -> bool:
        """Delete the head: the manifest first (the head is gone from then on), then its
        arrays of every generation."""
        if not directory.is_dir():
            return False
        manifest = directory / "outcome.json"
        found = manifest.exists()
        with FileSet(directory, "outcome.json"):
            manifest.unlink(missing_ok=True)
            for p in [directory / "outcome.npz", *directory.glob("outcome.*.npz")]:
                if p.exists():
                    p.unlink()
                    found = True
        return found


def fit_outcomes(rows: Sequence[Outcome], embeddings: np.ndarray,
                 hparams: dict[str, float] | None = None, source: str = "") -> OutcomeModel:
    """Fit one quality head per tier scored in ``rows`` (each on the rows that scored it,
    weighted by the rows' importance weights)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    hp = {**OUTCOME_HPARAMS, **(hparams or {})}
    t0 = time.perf_counter()
    emb = np.atleast_2d(embeddings).astype(np.float32)
    texts = [r.text for r in rows]
    tiers = [t for t in TIER_NAMES if any(t in r.outcomes for r in rows)]
    if not tiers:
        raise ValueError("no tier is scored in the outcome data")
    with threadpool_limits(1):
        mean = emb.mean(axis=0)
        # No more directions than the rows can estimate: one per ROWS_PER_DIRECTION rows (all
        # 16 from 128 rows up; a few dozen ratings get 4).
        k = int(min(hp["components"], emb.shape[0] // ROWS_PER_DIRECTION, emb.shape[1]))
        if k >= 1:
            _, sv, vt = np.linalg.svd(emb - mean, full_matrices=False)
            std = sv[:k] / np.sqrt(max(1, emb.shape[0] - 1))
            components = (vt[:k] / np.maximum(std, 1e-6)[:, None]).astype(np.float32)
        else:
            components = np.zeros((0, emb.shape[1]), np.float32)
        feats = text_features(texts)
        feat_mean = feats.mean(axis=0)
        feat_scale = np.maximum(feats.std(axis=0), 1e-6).astype(np.float32)
        x = np.clip(np.hstack([(emb - mean) @ components.T, (feats - feat_mean) / feat_scale]),
                    -FEATURE_CLIP, FEATURE_CLIP)
        W = np.zeros((len(tiers), x.shape[1]), np.float32)
        b = np.zeros(len(tiers), np.float32)
        weights = np.array([r.weight for r in rows], dtype=np.float64)
        for j, tier in enumerate(tiers):
            idx = np.array([i for i, r in enumerate(rows) if tier in r.outcomes], dtype=np.int64)
            y = np.array([rows[i].outcomes[tier] for i in idx], dtype=np.float64)
            wt = weights[idx]
            # Soft labels: each row counts as a success with weight y and a failure with 1 - y.
            xx = np.vstack([x[idx], x[idx]])
            yy = np.concatenate([np.ones(len(idx)), np.zeros(len(idx))])
            ww = np.concatenate([wt * y, wt * (1.0 - y)])
            keep = ww > 0
            xx, yy, ww = xx[keep], yy[keep], ww[keep]
            if len(set(yy.tolist())) < 2:  # always good (or always bad): a constant head
                p = float(np.clip(yy.mean() if len(yy) else 0.5, 0.02, 0.98))
                b[j] = np.log(p / (1 - p))
                continue
            clf = LogisticRegression(C=hp["C"], max_iter=3000).fit(xx, yy, sample_weight=ww)
            W[j], b[j] = clf.coef_[0], clf.intercept_[0]
    model = OutcomeModel(tiers=tiers, mean=mean.astype(np.float32), components=components,
                         feat_mean=feat_mean.astype(np.float32), feat_scale=feat_scale,
                         W=W, b=b, n_rows=len(rows), hparams=hp, source=source)
    model.provenance = (f"outcome head fitted on {len(rows):,} outcomes "
                        f"({', '.join(tiers)}) in {time.perf_counter() - t0:.1f} s")
    return model


def tier_prices(tiers: Sequence[str], settings: object) -> np.ndarray:
    """Each tier's typical request price relative to the dearest of ``tiers`` (at the configured
    prices)."""
    from switchyard.llm.accounting import typical_request_cost

    price = np.array([typical_request_cost(t, settings) for t in tiers], dtype=np.float64)  # type: ignore[arg-type]
    return price / price.max() if price.max() > 0 else np.linspace(0.0, 1.0, len(tiers))


# -- evaluation: the quality-cost curve, cross-validated -----------------------------------
def ends(rows: Sequence[Outcome]) -> tuple[str, str, np.ndarray, np.ndarray]:
    """The cheapest and dearest tiers scored in ``rows`` and their outcomes (every row of a
    loaded outcome file has both)."""
    from switchyard.classifier.outcomes import scored_tiers

    tiers = scored_tiers(rows)
    lo, hi = tiers[0], tiers[-1]
    weak = np.array([r.outcomes[lo] for r in rows], dtype=np.float64)
    strong = np.array([r.outcomes[hi] for r in rows], dtype=np.float64)
    return lo, hi, weak, strong


def baseline_scores(train_emb: np.ndarray, weak: np.ndarray, strong: np.ndarray,
                    test_emb: np.ndarray) -> np.ndarray:
    """The reference router: a logistic regression on the MiniLM embedding alone, trained to
    predict "only the strong tier was good" (RouteLLM's golden-label formulation)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    y = (strong > weak).astype(int)
    if len(set(y.tolist())) < 2:
        return np.full(len(test_emb), float(y.mean()) if len(y) else 0.0)
    with threadpool_limits(1):
        clf = LogisticRegression(C=1.0, max_iter=3000).fit(train_emb, y)
    return clf.predict_proba(test_emb)[:, 1]


def cross_validated(rows: Sequence[Outcome], embeddings: np.ndarray, folds: int,
                    hparams: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Out-of-fold scores of the router (refitted from the defaults on the other folds each
    time) and of the embedding-only baseline, folds by prompt hash."""
    from switchyard.classifier.outcomes import folds_by_hash

    if folds < 2:
        raise ValueError("--folds must be at least 2")
    fold = folds_by_hash(rows, folds)
    _, _, weak, strong = ends(rows)
    router = np.zeros(len(rows))
    baseline = np.zeros(len(rows))
    for f in range(folds):
        te = np.nonzero(fold == f)[0]
        tr = np.nonzero(fold != f)[0]
        if len(te) == 0 or len(tr) < 2:
            raise ValueError(f"fold {f + 1} of {folds} is empty: too few distinct requests")
        model = fit_outcomes([rows[i] for i in tr], embeddings[tr], hparams)
        router[te] = model.gain(embeddings[te], [rows[i].text for i in te])
        baseline[te] = baseline_scores(embeddings[tr], weak[tr], strong[tr], embeddings[te])
    return {"router": router, "baseline": baseline, "fold": fold}


def operating_point(rows: Sequence[Outcome], model: OutcomeModel, quality: np.ndarray,
                    prices: np.ndarray, cost_weight: float) -> dict[str, object]:
    """Where ``cost_weight`` puts the router on ``rows``: share of requests per tier, quality
    kept (the chosen tiers' outcomes over the dearest tier's, on rows where the chosen tier was
    scored) and cost (the chosen tiers' prices over sending everything to the dearest)."""
    choice = model.choose(quality, prices, cost_weight)
    n = len(rows)
    shares = {t: round(float(np.mean(choice == j)), 4) for j, t in enumerate(model.tiers)}
    dearest = model.tiers[-1]
    got, best = [], []
    for r, c in zip(rows, choice, strict=True):
        tier = model.tiers[c]
        if tier in r.outcomes and dearest in r.outcomes:
            got.append(r.outcomes[tier])
            best.append(r.outcomes[dearest])
    kept = float(np.sum(got) / np.sum(best)) if best and np.sum(best) > 0 else None
    return {"n": n, "cost_weight": cost_weight, "share": shares,
            "quality_kept": None if kept is None else round(kept, 4),
            "cost_share": round(float(prices[choice].mean()), 4)}


def calibrate_weight(model: OutcomeModel, quality: np.ndarray, prices: np.ndarray, *,
                     expert_share: float | None = None,
                     min_quality: float | None = None,
                     rows: Sequence[Outcome] | None = None) -> float:
    """The cost weight that sends ``expert_share`` of these requests to the dearest tier, or
    the largest (cheapest) weight keeping ``min_quality`` of all-dearest quality on ``rows``."""
    top = len(model.tiers) - 1
    # Breakpoints: the weights where some request's choice can change.
    cands = {0.0}
    for a in range(len(model.tiers)):
        for c in range(a + 1, len(model.tiers)):
            dp = prices[c] - prices[a]
            if dp > 0:
                cands.update(((quality[:, c] - quality[:, a]) / dp).tolist())
    grid = np.array(sorted(v for v in cands if v >= 0.0))
    # Midpoints between breakpoints are stable operating points (no ties on a boundary).
    mids = np.concatenate([[0.0], (grid[1:] + grid[:-1]) / 2.0, [grid[-1] + 1.0]])
    if expert_share is not None:
        # The dearest tier's share falls as the weight grows: bisect for the closest one.
        def share(i: int) -> float:
            return float(np.mean(model.choose(quality, prices, float(mids[i])) == top))

        lo, hi = 0, len(mids) - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if share(mid) > expert_share:
                lo = mid
            else:
                hi = mid
        return float(mids[lo] if abs(share(lo) - expert_share) < abs(share(hi) - expert_share)
                     else mids[hi])
    if min_quality is None or rows is None:
        raise ValueError("give expert_share, or min_quality with the rows")
    # Quality falls (not always strictly) as the weight grows: scan 400 quantiles of it.
    scan = np.unique(np.quantile(mids, np.linspace(0.0, 1.0, 400)))
    best = 0.0
    for w in scan:
        kept = operating_point(rows, model, quality, prices, float(w))["quality_kept"]
        if kept is not None and kept >= min_quality:
            best = max(best, float(w))
    return best
