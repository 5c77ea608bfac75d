"""Build the Quillstack pack's routing/{train,dev,test}.jsonl from its hand-written routing/source/.

Source format: ``@intent NAME [complexity]`` starts a section, then one request per line;
``@followup`` sections hold ``intent | turn || turn >> follow-up`` lines. Lines starting with
``#`` are comments. The split is stratified by intent (follow-ups and out-of-scope complexities
are their own strata) with a fixed seed, so rebuilding is deterministic.

``source/train_only/*.txt`` rows go to train only, appended after the split: adding them never
moves a row between dev and test, so held-out figures stay comparable across data additions.

    .venv/bin/python scripts/build_routing_data.py
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path

from switchyard.core.domain import INTENTS, OUT_OF_SCOPE

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "switchyard" / "domains" / "quillstack" / "routing" / "source"
OUT = ROOT / "switchyard" / "domains" / "quillstack" / "routing"
SPLITS = (("train", 0.70), ("dev", 0.15), ("test", 0.15))
SEED = 20240611


def _row(
    text: str,
    intent: str,
    complexity: str | None = None,
    history: list[str] | None = None,
    follow_up: bool = False,
) -> dict:
    meta = INTENTS[intent]
    row = {
        "text": text,
        "complexity": complexity or meta.complexity,
        "intent": intent,
        "requires_auth": meta.requires_auth,
        "tools_needed": list(meta.tools),
        "in_scope": intent != OUT_OF_SCOPE,
    }
    if history:
        row["history"] = history
        # False for a new standalone request made mid-conversation (judged on its own).
        row["follow_up"] = follow_up
    return row


def parse(path: Path) -> list[dict]:
    rows: list[dict] = []
    intent: str | None = None
    complexity: str | None = None
    followup = False
    standalone = False
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            # "# standalone" marks the following follow-up-section lines as new topics.
            standalone = standalone or line.lower().startswith("# a new standalone")
            continue
        if line.startswith("@intent"):
            parts = line.split()
            intent, complexity, followup = parts[1], (parts[2] if len(parts) > 2 else None), False
            if intent not in INTENTS:
                raise SystemExit(f"{path.name}:{n}: unknown intent {intent!r}")
            continue
        if line.startswith("@followup"):
            followup, intent, standalone = True, None, False
            continue
        if followup:
            head, _, text = line.partition(">>")
            fu_intent, _, hist = head.partition("|")
            fu_intent = fu_intent.strip()
            if fu_intent not in INTENTS or not text.strip():
                raise SystemExit(f"{path.name}:{n}: bad follow-up line")
            history = [h.strip() for h in hist.split("||") if h.strip()]
            rows.append(_row(text.strip(), fu_intent, history=history, follow_up=not standalone))
        elif intent is None:
            raise SystemExit(f"{path.name}:{n}: request outside a section")
        else:
            rows.append(_row(line, intent, complexity))
    return rows


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help only
    rows: list[dict] = []
    for path in sorted(SOURCE.glob("*.txt")):
        rows.extend(parse(path))
    # Exact duplicates (case-insensitive) would leak across splits: keep the first.
    seen: set[tuple[str, str]] = set()
    unique = []
    for r in rows:
        key = (r["text"].lower(), " || ".join(r.get("history", [])).lower())
        if key not in seen:
            seen.add(key)
            unique.append(r)
    strata: dict[str, list[dict]] = defaultdict(list)
    for r in unique:
        key = f"followup:{r['complexity']}" if r.get("follow_up") else r["intent"]
        if r["intent"] == OUT_OF_SCOPE:
            key += f":{r['complexity']}"
        strata[key].append(r)
    rng = random.Random(SEED)
    out: dict[str, list[dict]] = {name: [] for name, _ in SPLITS}
    for key in sorted(strata):
        group = strata[key]
        rng.shuffle(group)
        n = len(group)
        n_dev = max(1, round(n * SPLITS[1][1]))
        n_test = max(1, round(n * SPLITS[2][1]))
        out["test"].extend(group[:n_test])
        out["dev"].extend(group[n_test : n_test + n_dev])
        out["train"].extend(group[n_test + n_dev :])
    for name, _ in SPLITS:
        rng.shuffle(out[name])
    extra = [r for path in sorted((SOURCE / "train_only").glob("*.txt")) for r in parse(path)]
    extra = [r for r in extra if (r["text"].lower(), " || ".join(r.get("history", [])).lower()) not in seen]
    random.Random(SEED + 1).shuffle(extra)
    out["train"].extend(extra)
    for name, _ in SPLITS:
        with (OUT / f"{name}.jsonl").open("w") as fh:
            for r in out[name]:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print({name: len(v) for name, v in out.items()}, "total", len(unique) + len(extra),
          "train-only", len(extra), "dropped dups", len(rows) - len(unique))


if __name__ == "__main__":
    main()
