"""Nothing domain-specific outside its pack: the sources switchyard ships (everything that goes
into the wheel except the bundled pack's own folder) name none of the bundled pack's vocabulary.

The names are read from the pack itself, so the check follows the pack as it changes: the product
name, the host of its help-centre address, its tool names, the error codes its intents mention,
and its plan names used as plans ("Team plan"). Generic switchyard code, comments and examples
speak of "the product", "a plan" or made-up codes instead.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from switchyard.core.pack import DomainPack, default_pack_dir, load_pack

ROOT = Path(__file__).resolve().parents[2]
# Files switchyard ships that may still hold the bundled pack's names: none since its customer
# data (seed and product sheet) moved into the pack. An entry added here must still leak (a
# stale entry fails), and nothing else may.
NOT_YET_MOVED: frozenset[str] = frozenset()
SHIPPED_SUFFIXES = {".py", ".toml", ".json", ".jsonl", ".md", ".txt", ".html", ".js", ".css"}


def vocabulary(pack: DomainPack) -> list[re.Pattern[str]]:
    """What only this pack says, as patterns (derived from its manifest and guard file)."""
    m = pack.manifest
    host = urlsplit(m.product.article_url.replace("{id}", "x")).hostname or ""
    words = {m.product.name, *m.tools}
    # The help host's distinctive labels ("help.<product>.example" -> the product's label).
    words |= {label for label in host.split(".")
              if label not in {"help", "www", "docs", "support", "example", "com", "org"}}
    codes = set(re.findall(r"\b[A-Z]{2,5}-\d{3}\b",
                           " ".join(i.description for i in m.intents.values())))
    patterns = [re.compile(rf"\b{re.escape(w)}\b", re.IGNORECASE) for w in sorted(words) if w]
    patterns += [re.compile(rf"\b{re.escape(c)}\b") for c in sorted(codes)]
    plans = "|".join(re.escape(p.title()) for p in pack.guard.plans)
    if plans:
        patterns.append(re.compile(rf"\b(?:{plans}) plan\b"))
    return patterns


def shipped_files() -> list[Path]:
    """Every source and data file the wheel installs (pyproject's packages and their folders),
    except the bundled default pack's own folder."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = project.get("package-dir", {})
    pack_dir = default_pack_dir()
    found: list[Path] = []
    for package in project["packages"]:
        folder = ROOT / mapped.get(package, package.replace(".", "/"))
        for f in folder.iterdir():
            if (f.is_file() and f.suffix in SHIPPED_SUFFIXES) or (
                    f.is_dir() and f.name not in {"__pycache__"}
                    and f"{package}.{f.name}" not in project["packages"]):
                found += [f] if f.is_file() else [
                    p for p in f.rglob("*") if p.is_file() and p.suffix in SHIPPED_SUFFIXES
                    and "__pycache__" not in p.parts]
    return sorted({f for f in found if not f.resolve().is_relative_to(pack_dir)})


def leaks(files: list[Path], patterns: list[re.Pattern[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        hits = sorted({m.group(0) for p in patterns for m in p.finditer(text)})
        if hits:
            out[f.relative_to(ROOT).as_posix() if f.is_relative_to(ROOT) else f.name] = hits
    return out


def test_the_vocabulary_comes_from_the_pack() -> None:
    pack = load_pack(default_pack_dir())
    patterns = vocabulary(pack)
    sample = (f"{pack.name} {next(iter(pack.manifest.tools))} "
              f"{pack.guard.plans[0].title()} plan")
    assert sum(bool(p.search(sample)) for p in patterns) >= 3
    assert not any(p.search("the product's team plans and a generic tool") for p in patterns)


def test_the_walk_covers_what_the_wheel_ships() -> None:
    files = {f.relative_to(ROOT).as_posix() for f in shipped_files()}
    for expected in ("switchyard/core/pack.py", "tools/registry.py", "cache/guard.py",
                     "classifier/fallback.jsonl", "switchyard/llm/catalog.toml",
                     "switchyard/domains/template/domain.toml", "knowledge/README.md"):
        assert expected in files
    assert not any(f.startswith("switchyard/domains/quillstack/") for f in files)


def test_no_shipped_file_outside_the_pack_names_the_pack_s_vocabulary() -> None:
    found = leaks(shipped_files(), vocabulary(load_pack(default_pack_dir())))
    unexpected = {f: hits for f, hits in found.items() if f not in NOT_YET_MOVED}
    assert not unexpected, "the bundled pack's names outside its folder: " + "; ".join(
        f"{f}: {', '.join(h)}" for f, h in sorted(unexpected.items()))
    stale = sorted(NOT_YET_MOVED - set(found))
    assert not stale, f"no longer leak; remove from NOT_YET_MOVED: {stale}"


@pytest.mark.parametrize("planted", ["the {product} way", "call {tool} first", "on the {plan} plan"])
def test_the_check_fails_when_a_name_is_planted(tmp_path: Path, planted: str) -> None:
    pack = load_pack(default_pack_dir())
    text = planted.format(product=pack.name.lower(), tool=next(iter(pack.manifest.tools)),
                          plan=pack.guard.plans[-1].title())
    generic = tmp_path / "generic.py"
    generic.write_text(f'"""A generic module."""\n# {text}\n', encoding="utf-8")
    clean = tmp_path / "clean.py"
    clean.write_text('"""A generic module about the product and a plan."""\n', encoding="utf-8")
    patterns = vocabulary(pack)
    assert set(leaks([generic, clean], patterns).keys()) == {"generic.py"}


def test_the_pack_s_customer_data_would_be_caught_outside_it() -> None:
    """The customer seed and product sheet that moved into the pack still name its vocabulary,
    so putting either back among the shipped files (e.g. tools/) fails the check above."""
    pack = load_pack(default_pack_dir())
    seed_module = pack.root / pack.manifest.accounts.seed.partition(":")[0].replace(".", "/")
    moved = [seed_module.with_suffix(".py"), pack.product_path]
    assert {Path(f).name for f in leaks(moved, vocabulary(pack))} == {"seed.py", "product.json"}
