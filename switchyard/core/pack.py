"""Domain packs: one folder holds everything domain-specific, described by ``domain.toml``.

A pack is a folder with a manifest (``domain.toml``), an articles folder, labelled routing
examples and, optionally, a cache-guard vocabulary file. The manifest names the product (for the
prompts), the intents (tier hint, personal / strategic flags, the tools each may use, fixed
action steps), the tools (importable LangChain tools, ``module:attribute``, with their
``reads_account`` and tier flags) and where the rest lives. The bundled default pack
(``switchyard/domains/<name>``) is loaded exactly like any other.

Loading validates everything before anything is built: an unknown key, a wrong type, an intent
naming an undeclared tool or a missing folder raises :class:`PackError`, whose message names the
file, the key and the fix. Tools are only *named* here (this layer imports nothing above it);
``switchyard.tools.registry`` imports them.
"""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MANIFEST = "domain.toml"
TIER_HINTS = ("fast", "standard", "expert", "any")
# The tier hint an intent states, as the classifier's complexity label.
COMPLEXITY_FOR_HINT = {"fast": "low", "standard": "medium", "expert": "high", "any": "any"}
OUT_OF_SCOPE = "out_of_scope"


class PackError(Exception):
    """A domain pack that cannot be loaded; the message names the file, the key and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProductSpec(_Strict):
    name: str = Field(min_length=1)
    # One line, used in prompts ("You are {name}'s support assistant").
    description: str = Field(min_length=1)
    # What the assistant helps with, for the out-of-scope deflection ("...list what you can
    # help with (<scope>)").
    scope: str = Field(min_length=1)
    # The same, as the end of a sentence to the customer ("I can help with <help_topics>.");
    # defaults to ``scope``.
    help_topics: str = ""
    # Each article's public address; ``{id}`` is the article's file stem.
    article_url: str = "https://help.example/articles/{id}"

    @field_validator("description", "scope", "help_topics")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if "\n" in v.strip():
            raise ValueError("must be one line")
        return v.strip()

    @field_validator("article_url")
    @classmethod
    def _has_id(cls, v: str) -> str:
        if "{id}" not in v:
            raise ValueError("must contain {id} (the article's file stem)")
        return v


class ActionSpec(_Strict):
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class IntentSpec(_Strict):
    tier: Literal["fast", "standard", "expert", "any"]
    description: str = ""
    personal: bool = False
    strategic: bool = False
    tools: tuple[str, ...] = ()
    actions: tuple[ActionSpec, ...] = ()


class ToolSpec(_Strict):
    # ``package.module:attribute``: a LangChain ``BaseTool`` (e.g. made with ``@tool``).
    ref: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    reads_account: bool
    expert_only: bool = False
    # Offered to every signed-in user whatever the intent (it acts only on the caller).
    self_service: bool = False


class PathsSpec(_Strict):
    articles: str = "articles"
    # A folder with train.jsonl (and optionally dev.jsonl, test.jsonl) of labelled requests.
    routing: str = "routing"
    # Optional evaluation and planning data, each read by one command (see DATA_FILES).
    retrieval_eval: str | None = None
    tool_choice: str | None = None
    cache_pairs: str | None = None
    sample_traffic: str | None = None
    # The product fact sheet (JSON: plans, prices, quotas, ...), handed to the pack's tools as
    # ``accounts.product`` and to its account seed. None: an empty sheet.
    product: str | None = None


class AccountsSpec(_Strict):
    """The customer database (``switchyard.tools.database``). Every pack gets the account
    directory (organizations and users who can sign in); ``seed`` is a pack's own data."""

    # ``module:function`` called with the product sheet (a dict), returning a
    # ``switchyard.tools.database.AccountSeed``: the pack's tables and rows (it may add columns
    # to the directory's organizations and users). None: a generic directory of demo
    # organizations and users (``u-0001``, ``u-0002``, ...).
    seed: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


# The optional data files a pack may declare under [paths], and the command that reads each.
DATA_FILES: dict[str, str] = {
    "retrieval_eval": "`switchyard eval-retrieval` and `switchyard eval --suite retrieval` "
                      "(JSONL: {\"question\", \"article\": the expected article's id})",
    "tool_choice": "`switchyard eval --suite tools` (JSONL: {\"request\", \"tier\": "
                   "standard|expert, \"expected\": [tool names]})",
    "cache_pairs": "`switchyard cache calibrate` (JSONL: {\"id\", \"a\", \"b\", \"label\"})",
    "sample_traffic": "`switchyard plan` (JSONL traffic log: {\"text\", \"user_id\"?, \"ts\"?})",
}


class GuardSpec(_Strict):
    """The cache guard's domain vocabulary: two questions that differ in one of these must not
    share an answer."""

    # Named things whose swap changes the answer: canonical name -> surface forms.
    entities: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # Plan names, recognised next to "plan"/"tier"/... ("Pro plan", "plan called Premium").
    plans: tuple[str, ...] = ()
    # Plans recognised alone after "to/on/from" ("move to Enterprise").
    standalone_plans: tuple[str, ...] = ()
    # Capitalised words that are not names (the product, its common nouns).
    ordinary_words: tuple[str, ...] = ()
    # Opposite pairs: group -> side -> regular expressions. Two questions that take different
    # sides of one group never share an answer ("enable SSO" / "disable SSO").
    opposites: dict[str, dict[str, tuple[str, ...]]] = Field(default_factory=dict)

    @field_validator("opposites")
    @classmethod
    def _regexes_compile(cls, v: dict[str, dict[str, tuple[str, ...]]]) -> Any:
        for group, sides in v.items():
            for side, alts in sides.items():
                for alt in alts:
                    try:
                        re.compile(alt)
                    except re.error as exc:
                        raise ValueError(f"{group}.{side}: {alt!r} is not a regular expression "
                                         f"({exc})") from None
        return v


PromptName = Literal["fast_system", "fast_system_small", "small_deflection", "deflect_system",
                     "standard_system", "expert_plan_system", "expert_agent_system",
                     "expert_reflect_system", "expert_synthesize_system"]


class DemoRequest(_Strict):
    """One request `switchyard demo` sends (``user``: who asks; default the demo user)."""

    text: str = Field(min_length=1)
    user: str | None = None


class Manifest(_Strict):
    product: ProductSpec
    paths: PathsSpec = Field(default_factory=PathsSpec)
    accounts: AccountsSpec = Field(default_factory=AccountsSpec)
    tools: dict[str, ToolSpec] = Field(default_factory=dict)
    intents: dict[str, IntentSpec]
    # The vocabulary inline, or the name of a TOML file in the pack holding it.
    guard: GuardSpec | str = Field(default_factory=GuardSpec)
    # ``module:function`` giving the fast tier a personal intent's account snapshot:
    # ``fn(accounts, user_id, *, include_name=False) -> dict`` over the customer database
    # (raising the tools' ``ToolAuthError`` for an unknown or inactive user). None: packs read their
    # customers' data through their own tools (a fixed action or the standard tier's tool loop).
    account_snapshot: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    # A pack's own wording for any of the agents' prompts (``{product}`` is the product's name):
    # fast_system, fast_system_small, small_deflection, deflect_system, standard_system,
    # expert_plan_system (must keep ``{tool_list}``), expert_agent_system, expert_reflect_system,
    # expert_synthesize_system.
    prompts: dict[PromptName, str] = Field(default_factory=dict)
    # What `switchyard demo` asks, in order ([[demo]] tables). None: the first labelled requests.
    demo: tuple[DemoRequest, ...] = ()


@dataclass(frozen=True)
class DomainPack:
    """A loaded, validated pack."""

    root: Path
    manifest: Manifest
    guard: GuardSpec
    warnings: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.manifest.product.name

    @property
    def articles_dir(self) -> Path:
        return self.root / self.manifest.paths.articles

    @property
    def routing_dir(self) -> Path:
        return self.root / self.manifest.paths.routing

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    @property
    def product_path(self) -> Path | None:
        """The product fact sheet (``[paths] product``), or None when the pack has none."""
        declared = self.manifest.paths.product
        return None if declared is None else self.root / declared

    def data_file(self, key: str) -> Path:
        """The optional data file declared as ``[paths] <key>``; a :class:`PackError` naming the
        manifest, the key and the fix when the pack has none or the file is missing."""
        used_by = DATA_FILES[key]
        declared = getattr(self.manifest.paths, key)
        if declared is None:
            raise PackError(f"{self.manifest_path}: key paths.{key}: not declared, and "
                            f"{used_by.split(' (')[0]} needs it; fix: add `{key} = \"FILE\"` "
                            f"under [paths] (format: {used_by.split(' (', 1)[1]}, or pass "
                            "the file on the command line")
        path = self.root / declared
        if not path.is_file():
            raise PackError(f"{self.manifest_path}: key paths.{key}: file {path} does not "
                            "exist; fix: create it or correct the path")
        return path


def bundled_packs_dir() -> Path:
    """Where the packs shipped in the wheel live (found without importing the package)."""
    spec = importlib.util.find_spec("switchyard.domains")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover
        raise PackError("switchyard is installed without its bundled domain packs "
                        "(switchyard.domains); reinstall it")
    return Path(next(iter(spec.submodule_search_locations)))


# The bundled folder `switchyard init` copies: a starting point, not a pack to run.
TEMPLATE = "template"


def default_pack_dir() -> Path:
    """The bundled default pack: the one folder with a manifest in ``switchyard.domains`` besides
    the template (named by no code outside it, so nothing else depends on its name)."""
    base = bundled_packs_dir()
    packs = sorted(p for p in base.iterdir()
                   if p.is_dir() and p.name != TEMPLATE and (p / MANIFEST).is_file())
    if len(packs) != 1:
        raise PackError(f"{base}: expected exactly one bundled default pack besides "
                        f"{TEMPLATE!r}, found {[p.name for p in packs]}; fix: reinstall switchyard "
                        "or choose a pack with --domain / SWITCHYARD_DOMAIN")
    return packs[0]


def _where(loc: tuple[Any, ...]) -> str:
    # Union branches show up in pydantic's location as type names ("GuardSpec", "str").
    return ".".join(str(p) for p in loc if p not in _BRANCHES) or "(top level)"


_BRANCHES = ("GuardSpec", "str")


def _fix(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "remove it or fix its spelling (see docs/domain-packs.md for the keys)"
    if kind == "missing":
        return "add it"
    if kind == "literal_error":
        return "use one of: " + ", ".join(TIER_HINTS)
    if kind == "string_pattern_mismatch":
        return "write it as 'package.module:attribute'"
    if kind == "value_error":
        return "correct the value"
    return "give it a value of the right type (see docs/domain-packs.md)"


def _validation_message(path: Path, exc: ValidationError) -> str:
    errors = exc.errors()
    # ``guard`` is a table or a file name: when it was given as a table, the "should be a
    # string" branch is noise.
    tables = {err["loc"][0] for err in errors if len(err["loc"]) > 1 and err["loc"][1] == "GuardSpec"}
    lines = [f"{path}: invalid domain manifest"]
    for err in errors:
        loc = err["loc"]
        if len(loc) > 1 and loc[0] in tables and loc[1] == "str":
            continue
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"  key {_where(loc)}: {msg}; fix: {_fix(err)}")
    return "\n".join(lines)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise PackError(f"{path}: not found; fix: point --domain / SWITCHYARD_DOMAIN at a folder "
                        f"holding a {MANIFEST} (`switchyard init DIR` writes one)") from None
    except tomllib.TOMLDecodeError as exc:
        raise PackError(f"{path}: not valid TOML ({exc}); fix the syntax there") from None


def _check(pack_root: Path, manifest: Manifest, guard: GuardSpec) -> list[str]:
    """Cross-references and folders; returns warnings, raises PackError on errors."""
    where = pack_root / MANIFEST
    problems: list[str] = []
    warnings: list[str] = []
    for name, spec in manifest.intents.items():
        unknown = [t for t in spec.tools if t not in manifest.tools]
        if unknown:
            problems.append(f"key intents.{name}.tools: names undeclared tools {unknown}; "
                            f"fix: declare them under [tools.NAME] or remove them")
        for i, action in enumerate(spec.actions):
            if action.tool not in manifest.tools:
                problems.append(f"key intents.{name}.actions[{i}].tool: {action.tool!r} is not a "
                                f"declared tool; fix: declare it under [tools.{action.tool}]")
            elif action.tool not in spec.tools:
                problems.append(f"key intents.{name}.actions[{i}].tool: {action.tool!r} is not in "
                                f"this intent's tools; fix: add it to intents.{name}.tools")
        if spec.actions and spec.tier != "fast":
            problems.append(f"key intents.{name}.actions: fixed action steps run on the fast tier "
                            f"only; fix: set tier = \"fast\" or remove the actions")
    if OUT_OF_SCOPE not in manifest.intents:
        problems.append(f"key intents.{OUT_OF_SCOPE}: missing; fix: add [intents.{OUT_OF_SCOPE}] "
                        f"with tier = \"any\" (requests not about the product)")
    elif manifest.intents[OUT_OF_SCOPE].tier != "any":
        problems.append(f"key intents.{OUT_OF_SCOPE}.tier: must be \"any\"; fix: set it so")
    for plan in guard.standalone_plans:
        if plan not in guard.plans:
            problems.append(f"key guard.standalone_plans: {plan!r} is not in guard.plans; "
                            f"fix: add it to guard.plans")
    if manifest.paths.product is not None:
        sheet = pack_root / manifest.paths.product
        if not sheet.is_file():
            problems.append(f"key paths.product: file {sheet} does not exist; fix: create it "
                            "(a JSON object of product facts) or correct the path")
        else:
            facts: Any = {}
            try:
                facts = json.loads(sheet.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                problems.append(f"key paths.product: {sheet} is not valid JSON ({exc}); fix: "
                                "correct the file")
            if not isinstance(facts, dict):
                problems.append(f"key paths.product: {sheet} holds a {type(facts).__name__}, "
                                "not a JSON object; fix: make it one object of facts")
    articles = pack_root / manifest.paths.articles
    if not articles.is_dir():
        problems.append(f"key paths.articles: folder {articles} does not exist; fix: create it "
                        f"and put the help-centre articles there (.md, .txt or .html)")
    elif not any(p.suffix.lower() in {".md", ".txt", ".html", ".htm"}
                 for p in articles.iterdir() if p.is_file()):
        warnings.append(f"{where}: key paths.articles: folder {articles} holds no articles "
                        f"(.md, .txt, .html); answers will have no help-centre sources")
    if problems:
        raise PackError(f"{where}: invalid domain manifest\n  " + "\n  ".join(problems))
    return warnings


def load_pack(root: Path | str) -> DomainPack:
    """Read and validate the pack in ``root`` (a folder holding ``domain.toml``)."""
    pack_root = Path(root).expanduser().resolve()
    path = pack_root / MANIFEST
    if pack_root.is_file() and pack_root.name == MANIFEST:
        pack_root, path = pack_root.parent, pack_root
    raw = _read_toml(path)
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        raise PackError(_validation_message(path, exc)) from None
    guard = manifest.guard
    if isinstance(guard, str):
        guard_path = pack_root / guard
        guard_raw = _read_toml(guard_path)
        try:
            guard = GuardSpec.model_validate(guard_raw.get("guard", guard_raw))
        except ValidationError as exc:
            raise PackError(_validation_message(guard_path, exc)) from None
    warnings = _check(pack_root, manifest, guard)
    return DomainPack(root=pack_root, manifest=manifest, guard=guard, warnings=tuple(warnings))


@lru_cache(maxsize=16)
def _cached(root: str, mtime: float) -> DomainPack:
    return load_pack(root)


def load_pack_cached(root: Path | str) -> DomainPack:
    """:func:`load_pack`, read again only when the manifest changes."""
    path = Path(root).expanduser().resolve()
    manifest = path / MANIFEST if path.is_dir() else path
    try:
        mtime = manifest.stat().st_mtime
    except OSError:
        return load_pack(path)  # raises the clear error
    return _cached(str(path), mtime)
