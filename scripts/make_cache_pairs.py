"""Write ``switchyard/domains/quillstack/cache/cache_pairs.jsonl``: labelled question pairs for calibrating the semantic cache.

Every question was written by hand for the fictional SaaS "Quillstack" and lives in
``switchyard/domains/quillstack/cache/cache_pairs_source.json`` (edit it there); this script only lays them out as pairs, so the
set is reproducible and easy to extend. Each line of the output is
``{"id", "a", "b", "label", "kind", "style", "split"}``:

* ``label`` 1 = same question (the answer to ``a`` is a correct answer to ``b``), 0 = different.
* ``kind``: ``paraphrase`` (1); near-misses (0) ``near_number``, ``near_amount``, ``near_date``,
  ``near_entity``, ``near_negation`` (negation or antonym verb), ``near_topic`` (same area,
  different question: nothing for the guard to catch, only the threshold); ``unrelated`` (0).
* ``style`` (paraphrases): reorder, casual, typo, synonym, formal, terse.
* ``split``: ``dev`` / ``test``, alternating within each kind, so a threshold tuned on dev can be
  reported on test.

Run: ``.venv/bin/python scripts/make_cache_pairs.py`` (rewrites the file).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "switchyard" / "domains" / "quillstack" / "cache"
SOURCE = DATA / "cache_pairs_source.json"
OUT = DATA / "cache_pairs.jsonl"

STYLES = ("reorder", "casual", "typo", "synonym", "formal", "terse")
# Near-misses (label 0) in the order they are written after the paraphrases.
NEAR_KINDS = ("near_number", "near_amount", "near_date", "near_entity", "near_negation",
              "near_topic", "unrelated")


class SourceError(ValueError):
    """The source file does not have the expected shape (the message says where)."""


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SourceError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise SourceError(f"duplicate keys {dup}")
    return dict(pairs)


def load_source(path: Path = SOURCE) -> dict[str, Any]:
    """The hand-written questions, checked: paraphrases and each near-miss kind's pairs."""
    data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicate_keys)
    known = ("paraphrase", *NEAR_KINDS)
    unknown = sorted(k for k in data if not k.startswith("_") and k not in known)
    if unknown:
        raise SourceError(f"unknown kinds {unknown} (known: paraphrase, {', '.join(NEAR_KINDS)})")
    for n, item in enumerate(data.get("paraphrase", []), 1):
        where = f"paraphrase #{n}"
        _text(item.get("question"), where)
        for style, text in item.get("variants", []):
            if style not in STYLES:
                raise SourceError(f"{where}: unknown style {style!r} (known: {', '.join(STYLES)})")
            _text(text, where)
    for kind in NEAR_KINDS:
        for n, pair in enumerate(data.get(kind, []), 1):
            if not isinstance(pair, list) or len(pair) != 2:
                raise SourceError(f"{kind} #{n}: expected [a, b], got {pair!r}")
            for text in pair:
                _text(text, f"{kind} #{n}")
    return data


def build(source: dict[str, Any]) -> list[dict]:
    rows: list[dict] = []

    def add(kind: str, a: str, b: str, label: int, style: str = "") -> None:
        n = sum(1 for r in rows if r["kind"] == kind)
        rows.append(
            {
                "id": f"{kind}-{n + 1:03d}",
                "a": a,
                "b": b,
                "label": label,
                "kind": kind,
                "style": style,
                "split": "dev" if n % 2 == 0 else "test",
            }
        )

    for item in source.get("paraphrase", []):
        for style, variant in item["variants"]:
            add("paraphrase", item["question"], variant, 1, style)
    for kind in NEAR_KINDS:
        for a, b in source.get(kind, []):
            add(kind, a, b, 0)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=SOURCE,
                    help="the hand-written questions (default switchyard/domains/quillstack/cache/cache_pairs_source.json)")
    ap.add_argument("--out", type=Path, default=OUT,
                    help="the pairs file to write (default switchyard/domains/quillstack/cache/cache_pairs.jsonl)")
    args = ap.parse_args()
    try:
        rows = build(load_source(args.source))
    except (OSError, ValueError) as exc:  # json.JSONDecodeError and SourceError are ValueErrors
        print(f"make_cache_pairs: {args.source}: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for row in rows:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    print(f"wrote {len(rows)} pairs to {args.out}: {kinds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
