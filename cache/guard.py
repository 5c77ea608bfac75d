"""False-hit guard: two questions may only share an answer if their *facts* agree.

Embedding similarity is blind to the details that change an answer: "refund invoice 1042" and
"refund invoice 1043" score ~0.97 on MiniLM, "enable SSO" vs "disable SSO" ~0.93. So before a
semantic hit is served we extract, from both texts, the parts that must agree:

* numbers, amounts, percentages, ordinals and number words ("1,042", "$49.00", "two", "3rd");
* dates: months, weekdays, quarters and relative periods ("last month" == "previous month");
* identifiers: error codes (ERR-401), emails, URLs, invoice/order ids;
* named entities: a vocabulary of integrations, plans, standards and roles (case-insensitive,
  with aliases), plus any capitalised word in mid-sentence ("Pipedrive"), which must then appear
  in the other text too (case-insensitively, so "salesforce" vs "Salesforce" still agree);
* negation ("not", "can't", "without"...) must be present in both or neither;
* antonym groups (enable/disable, upgrade/downgrade, add/remove, cancel/renew, import/export,
  sign in/sign out...): if both texts take a side in a group, they must take the same side.
  A side mentioned by only one text is not a conflict ("enable SSO" vs "set up SSO").

Everything errs towards a miss: a wrong answer costs far more than a model call.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from switchyard.core.domain import active_pack, on_activate
from switchyard.core.pack import DomainPack, GuardSpec

# ---------------------------------------------------------------------------------------------
# Normalisation (also the exact-match key)
# ---------------------------------------------------------------------------------------------

_QUOTES = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"}
)
_EDGE_PUNCT = " \t\r\n.,;:!?\"'`()[]{}<>-_*~"
_WS = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Exact-match key: NFKC, casefold, collapsed whitespace, punctuation trimmed at the edges.

    Inner punctuation is kept on purpose: "10.42" must not become "1042".
    """
    t = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    t = _WS.sub(" ", t).strip(_EDGE_PUNCT)
    # Collapse a run of trailing "??" / "!!" left inside after stripping quotes, and spaces
    # before punctuation ("invoice 1042 ?" == "invoice 1042?").
    return re.sub(r"\s+([,.;:!?])", r"\1", t)


# ---------------------------------------------------------------------------------------------
# Vocabularies
# ---------------------------------------------------------------------------------------------

# The domain's vocabulary (named entities, plans, opposite pairs and its ordinary capitalised
# words) comes from the active domain pack's ``[guard]`` section (``switchyard.core.pack``; for
# e.g. the bundled pack's ``guard.toml``) and is installed by ``use_vocabulary``
# whenever a pack is activated. Key = canonical name, value = surface forms.
_ENTITY_ALIASES: dict[str, tuple[str, ...]] = {}
# Plans only count when used as a plan ("Pro plan", "on Premium"), "my team" is not a plan.
_PLANS: tuple[str, ...] = ()
_NEVER = re.compile(r"(?!x)x")
_PLAN_RE = _NEVER


# Capitalised words that are not entities (sentence starters, greetings, units, months), plus
# the pack's ordinary words (the product itself, its common nouns).
_GENERAL_CAP_STOP = frozenset({
    "i", "i'm", "i've", "i'd", "i'll", "hi", "hello", "hey", "please", "thanks", "thank", "ok",
    "okay", "api", "apis", "url", "urls", "ui", "faq", "asap", "id", "ids", "ip", "it", "admin",
    "help", "urgent", "hi,", "pls", "plz", "yes", "no", "also", "and", "but", "so", "the", "what",
    "how", "why", "when", "where", "which", "who", "can", "could", "is", "are", "do", "does", "my",
    "our", "we", "a", "an", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
    "sunday", "january", "february", "march", "april", "may", "june", "july", "august",
    "september", "october", "november", "december", "gb", "mb", "kb", "tb",
})
_CAP_STOP: frozenset[str] = _GENERAL_CAP_STOP

_NUMBER_WORDS = {
    # "one" is left out on purpose: "a seat" / "one seat" / "which one" are the same question.
    "zero": 0,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    # Decades count as their number, so "in her forties" agrees with "in her 40s" and not with
    # "in her fifties" (a real near-miss pair in ../shared/calibration).
    "twenties": 20,
    "thirties": 30,
    "forties": 40,
    "fifties": 50,
    "sixties": 60,
    "seventies": 70,
    "eighties": 80,
    "nineties": 90,
    "hundred": 100,
    "thousand": 1000,
    "million": 1_000_000,
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "twice": 2,
    "double": 2,
    "triple": 3,
    "half": 0.5,
    "dozen": 12,
    "single": 1,
}

_MONTHS = {
    "jan": 1,
    "january": 1,
    "feb": 2,
    "february": 2,
    "mar": 3,
    "march": 3,
    "apr": 4,
    "april": 4,
    "may": 5,
    "jun": 6,
    "june": 6,
    "jul": 7,
    "july": 7,
    "aug": 8,
    "august": 8,
    "sep": 9,
    "sept": 9,
    "september": 9,
    "oct": 10,
    "october": 10,
    "nov": 11,
    "november": 11,
    "dec": 12,
    "december": 12,
}
_WEEKDAYS = {
    "mon": "mon",
    "monday": "mon",
    "tue": "tue",
    "tues": "tue",
    "tuesday": "tue",
    "wed": "wed",
    "wednesday": "wed",
    "thu": "thu",
    "thur": "thu",
    "thurs": "thu",
    "thursday": "thu",
    "fri": "fri",
    "friday": "fri",
    "sat": "sat",
    "saturday": "sat",
    "sun": "sun",
    "sunday": "sun",
}
_REL_DAY = {"today": "today", "tonight": "today", "yesterday": "yesterday", "tomorrow": "tomorrow"}
_REL_WHEN = {
    "last": "last",
    "previous": "last",
    "past": "last",
    "prior": "last",
    "latest": "last",
    "recent": "last",
    "this": "this",
    "current": "this",
    "next": "next",
    "upcoming": "next",
    "coming": "next",
    "following": "next",
}
_REL_UNIT = r"(?:day|week|month|year|quarter|cycle|billing cycle|period|invoice|bill|charge|payment|renewal|statement)s?"
_REL_RE = re.compile(
    r"\b(last|previous|past|prior|latest|most recent|recent|this|current|next|upcoming|coming|following)\s+"
    r"(?:\w+\s+)?(" + _REL_UNIT + r")\b"
)

# Antonym groups: each group maps a pole name to regex alternatives. Two texts conflict when
# both take a side in a group and the sides differ.
# Opposite pairs (antonym groups), from the pack: group -> side -> regular expressions.
_POLES: dict[str, dict[str, tuple[str, ...]]] = {}

_NEGATION_RE = re.compile(
    r"\b(?:not|no|never|none|nothing|nobody|neither|nor|without|cannot|unable|no longer)\b"
    r"|n't\b|\b(?:cant|dont|doesnt|didnt|wont|isnt|arent|wasnt|werent|shouldnt|couldnt|wouldnt|havent|hasnt)\b"
)

# A third party in the question (a teammate's password vs my password) changes the answer.
_THIRD_PARTY_RE = re.compile(
    r"\b(?:(?:teammate|colleague|co-?worker|employee|client|customer)s?(?:'s?)?"
    r"|some(?:one|body)(?: else)?'s|some(?:one|body) else"
    r"|another user(?:'s)?|other users?(?:'s?)?|his|her|their|(?:user|member)(?:'s|s'))(?![\w'])"
)
_CODE_RE = re.compile(r"\b[a-z]{1,8}-\d{1,6}\b")  # error codes: err-401, api-429, sso-001
_EMAIL_RE = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_URL_RE = re.compile(r"\bhttps?://\S+|\b(?:[\w-]+\.)+(?:com|io|net|org|dev|app|co)(?:/\S*)?\b")
_ID_RE = re.compile(
    r"\b(?:in|inv|ord|cus|sub|ch|pi|evt|wf|run|usr|acct|tkt)[_-]?[a-z0-9]*\d[a-z0-9]*\b"
)
_MONEY_RE = re.compile(r"[$€£]\s?(\d[\d,]*(?:\.\d+)?)\s*(k|m)?\b")
_NUM_RE = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s*(k|m|%|st|nd|rd|th)?(?![\w])|(\d+)")
_QUARTER_RE = re.compile(r"\bq([1-4])\b")
_TOKEN_RE = re.compile(r"[a-z0-9']+")
_WORD_RE = re.compile(r"[a-z0-9]+")
_MAY_MONTH_RE = re.compile(
    r"(?:\b(?:in|since|until|from|for|of|last|this|next|early|late|mid|end of|during)\s+may\b)|\bmay\s+\d|\d(?:st|nd|rd|th)?\s+(?:of\s+)?may\b"
)
_SENT_START = re.compile(r"(?:^|[.!?;:]\s+|\n)\s*[\"'(]*([A-Za-z][\w'-]*)")
_CAP_WORD = re.compile(
    r"(?<![\w@.-])([A-Z][a-z0-9]+[A-Z][\w]*|[A-Z][a-z0-9][\w]*|[A-Z]{2,}[0-9]*)(?![\w@-])"
)


def _compile_poles() -> dict[str, dict[str, re.Pattern[str]]]:
    return {
        group: {pole: re.compile(r"\b(?:" + "|".join(alts) + r")") for pole, alts in poles.items()}
        for group, poles in _POLES.items()
    }


def _plan_re(plans: tuple[str, ...], standalone: tuple[str, ...]) -> re.Pattern[str]:
    if not plans:
        return _NEVER
    names = "|".join(re.escape(p) for p in plans)
    pattern = (
        rf"\b({names})\s+(?:plan|tier|edition|subscription|license|licence|seats?|customers?)\b"
        rf"|\b(?:plan|tier)\s+(?:called\s+)?({names})\b"
    )
    if standalone:
        pattern += r"|\b(?:to|on|from)\s+(?:the\s+)?(" + "|".join(re.escape(p) for p in standalone) + r")\b"
    return re.compile(pattern)


_POLE_RES: dict[str, dict[str, re.Pattern[str]]] = {}
_ALIAS_WORDS: set[str] = set()
# Single-word entity names, for typo-tolerant entity matching ("Jria" is Jira).
_ENTITY_WORDS: dict[str, set[str]] = {}
_ENTITY_RES: list[tuple[str, re.Pattern[str]]] = []


def use_vocabulary(spec: GuardSpec) -> None:
    """Install a pack's vocabulary (called whenever a domain pack is activated)."""
    global _ENTITY_ALIASES, _PLANS, _PLAN_RE, _CAP_STOP, _POLES, _POLE_RES
    global _ALIAS_WORDS, _ENTITY_WORDS, _ENTITY_RES
    _ENTITY_ALIASES = {k.casefold(): tuple(a.casefold() for a in v) for k, v in spec.entities.items()}
    _PLANS = tuple(p.casefold() for p in spec.plans)
    _PLAN_RE = _plan_re(_PLANS, tuple(p.casefold() for p in spec.standalone_plans))
    _CAP_STOP = _GENERAL_CAP_STOP | {w.casefold() for w in spec.ordinary_words}
    _POLES = {g: {side: tuple(alts) for side, alts in sides.items()}
              for g, sides in spec.opposites.items()}
    _POLE_RES = _compile_poles()
    _ALIAS_WORDS = {
        w for aliases in _ENTITY_ALIASES.values() for a in aliases for w in _WORD_RE.findall(a)
    }
    _ENTITY_WORDS = {
        name: {a for a in aliases if _WORD_RE.fullmatch(a)} for name, aliases in _ENTITY_ALIASES.items()
    }
    _ENTITY_RES = [
        (name, re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(a) for a in aliases) + r")(?![\w-])"))
        for name, aliases in _ENTITY_ALIASES.items()
    ]
    extract_facts.cache_clear()


def _canon_number(raw: str, suffix: str | None = None) -> str:
    value = float(raw.replace(",", ""))
    if suffix == "k":
        value *= 1_000
    elif suffix == "m":
        value *= 1_000_000
    return str(int(value)) if value == int(value) else f"{value:g}"


@dataclass(frozen=True)
class Facts:
    """What must agree between two texts for them to share an answer."""

    numbers: frozenset[str]
    dates: frozenset[str]
    ids: frozenset[str]
    entities: frozenset[str]
    cap_words: frozenset[str]  # mid-sentence capitalised words (casefolded), checked leniently
    negated: bool
    third_party: bool
    poles: tuple[tuple[str, frozenset[str]], ...]
    folded: str  # casefolded text with word boundaries, for the cap-word containment check


@lru_cache(maxsize=8192)
def extract_facts(text: str) -> Facts:
    raw = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    t = raw.casefold()
    ids: set[str] = set()
    for rx in (_EMAIL_RE, _URL_RE, _CODE_RE, _ID_RE):
        ids.update(m.group(0).rstrip(".,") for m in rx.finditer(t))
        t = rx.sub(" ", t)  # masked so "ERR-401" does not also count as the number 401
    entities = set()
    t_num = t
    for name, rx in _ENTITY_RES:
        if rx.search(t_num):
            entities.add(name)
            t_num = rx.sub(" ", t_num)  # "2FA", "SOC 2", "S3" are names, not numbers
    numbers: set[str] = set()
    for m in _MONEY_RE.finditer(t_num):
        numbers.add(_canon_number(m.group(1), m.group(2)))
    t_num = _MONEY_RE.sub(" ", t_num)
    dates: set[str] = set()
    for m in _QUARTER_RE.finditer(t_num):
        dates.add(f"q{m.group(1)}")
    t_num = _QUARTER_RE.sub(" ", t_num)
    for m in _NUM_RE.finditer(t_num):
        if m.group(1):
            suffix = m.group(2) if m.group(2) in ("k", "m") else None
            numbers.add(_canon_number(m.group(1), suffix))
        elif m.group(3):
            numbers.add(_canon_number(m.group(3)))
    for tok in _TOKEN_RE.findall(t_num):
        if tok in _NUMBER_WORDS:
            numbers.add(_canon_number(str(_NUMBER_WORDS[tok])))
    for tok in _WORD_RE.findall(t):  # no apostrophes: "February's" is February
        if tok in _MONTHS and tok != "may":
            dates.add(f"month:{_MONTHS[tok]}")
        elif tok in _WEEKDAYS:
            dates.add(f"day:{_WEEKDAYS[tok]}")
        elif tok in _REL_DAY:
            dates.add(f"rel:{_REL_DAY[tok]}")
    if _MAY_MONTH_RE.search(t):
        dates.add("month:5")
    for m in _REL_RE.finditer(t):
        when = "last" if m.group(1) == "most recent" else _REL_WHEN[m.group(1)]
        unit = m.group(2).rstrip("s")
        unit = {"billing cycle": "cycle", "bill": "invoice", "statement": "invoice"}.get(unit, unit)
        dates.add(f"rel:{when}")
        dates.add(f"rel:{when}:{unit}")
    for m in _PLAN_RE.finditer(t):
        plan = next(g for g in m.groups() if g)
        entities.add(f"plan:{plan}")
    # Capitalised plan names mid-sentence ("moving to Business") are plans too.
    sentence_starts = {m.start(1) for m in _SENT_START.finditer(raw)}
    cap_words: set[str] = set()
    shouting = raw.upper() == raw
    if not shouting:
        for m in _CAP_WORD.finditer(raw):
            word = m.group(1)
            low = word.casefold()
            if low in _PLANS and m.start(1) not in sentence_starts:
                entities.add(f"plan:{low}")
                continue
            if m.start(1) in sentence_starts or low in _CAP_STOP or len(low) < 2:
                continue
            if low in _ALIAS_WORDS:
                continue  # part of a known entity name ("Microsoft" in "Microsoft Teams")
            cap_words.add(low)
    negated = bool(_NEGATION_RE.search(t))
    poles = tuple(
        (group, frozenset(p for p, rx in poles_rx.items() if rx.search(t)))
        for group, poles_rx in _POLE_RES.items()
    )
    return Facts(
        numbers=frozenset(numbers),
        dates=frozenset(dates),
        ids=frozenset(ids),
        entities=frozenset(entities),
        cap_words=frozenset(cap_words),
        negated=negated,
        third_party=bool(_THIRD_PARTY_RE.search(t)),
        poles=poles,
        folded=" " + " ".join(_TOKEN_RE.findall(raw.casefold())) + " ",
    )


def _fmt(values: frozenset[str]) -> str:
    return ", ".join(sorted(values)) or "none"


# ---------------------------------------------------------------------------------------------
# Spelling variants: "pasword" is "password", but "lock" is not "block"
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _found_vocabulary() -> frozenset[str]:
    """The encoder's WordPiece words (a home's saved tokenizer when the model package is not
    installed); LookupError while there is none, which lru_cache does not keep."""
    from switchyard.encoder.onnx_encoder import wordpiece_words

    words = wordpiece_words()
    if not words:
        raise LookupError("no WordPiece vocabulary yet")
    return words


def _english_words() -> frozenset[str]:
    """Whole-word entries of the embedding model's WordPiece vocabulary (~20k English words).

    Two tokens one edit apart are a typo only if at least one of them is *not* a word:
    "pasword"/"password" qualifies, "lock"/"block" or "export"/"expert" do not.
    """
    try:
        return _found_vocabulary()
    except LookupError:
        # No vocabulary yet: treat every token as a word (strict: no typo is forgiven). Not
        # kept: without the model package the home's tokenizer is known once an encoder opens.
        return frozenset({"*"})


def _within_one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance <= 1 (one insertion, deletion, substitution or swap)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    i = 0
    while i < min(la, lb) and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1 :] == b[i + 1 :]:
            return True  # substitution
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    return a[i + 1 :] == b[i:] if la > lb else a[i:] == b[i + 1 :]


def is_spelling_variant(a: str, b: str) -> bool:
    if a == b or not (a.isalpha() and b.isalpha()) or min(len(a), len(b)) < 4:
        return False
    words = _english_words()
    if "*" in words or (a in words and b in words):
        return False
    if a in _ALIAS_WORDS and b in _ALIAS_WORDS:
        return False  # two different known names
    return _within_one_edit(a, b)


def spelling_variants(
    query: str, cached: str, max_variants: int = 3
) -> list[tuple[str, str]] | None:
    """If the two texts are the same words up to a few typos, return the typo pairs; else None."""
    ta, tb = _WORD_RE.findall(normalize_text(query)), _WORD_RE.findall(normalize_text(cached))
    if len(ta) != len(tb) or len(ta) < 3:
        return None
    diffs = [(x, y) for x, y in zip(ta, tb, strict=True) if x != y]
    if not diffs or len(diffs) > max_variants or len(diffs) * 3 > len(ta):
        return None
    return diffs if all(is_spelling_variant(x, y) for x, y in diffs) else None


def _fuzzy_has(word: str, folded: str) -> bool:
    return f" {word} " in folded or any(is_spelling_variant(word, t) for t in folded.split())


def _entity_typo_ok(name: str, other: Facts) -> bool:
    """Entity ``name`` is missing from ``other`` but one of its words is there, misspelt."""
    return any(
        is_spelling_variant(alias, tok)
        for alias in _ENTITY_WORDS.get(name, ())
        for tok in other.folded.split()
    )


def guard_conflict(query: str, cached: str) -> str | None:
    """Return why ``query`` must not reuse the answer cached for ``cached``; None if they agree."""
    a, b = extract_facts(query), extract_facts(cached)
    if a.numbers != b.numbers:
        return f"numbers differ ({_fmt(a.numbers)} vs {_fmt(b.numbers)})"
    if a.dates != b.dates:
        return f"dates differ ({_fmt(a.dates)} vs {_fmt(b.dates)})"
    if a.ids != b.ids:
        return f"ids differ ({_fmt(a.ids)} vs {_fmt(b.ids)})"
    if a.entities != b.entities:
        only_a = [e for e in a.entities - b.entities if not _entity_typo_ok(e, b)]
        only_b = [e for e in b.entities - a.entities if not _entity_typo_ok(e, a)]
        if only_a or only_b:
            return f"entities differ ({_fmt(a.entities)} vs {_fmt(b.entities)})"
    for word in a.cap_words:
        if not _fuzzy_has(word, b.folded):
            return f"entity '{word}' only in the request"
    for word in b.cap_words:
        if not _fuzzy_has(word, a.folded):
            return f"entity '{word}' only in the cached question"
    if a.negated != b.negated:
        return "negation differs"
    if a.third_party != b.third_party:
        return "subject differs (someone else vs self)"
    for (group, pa), (_, pb) in zip(a.poles, b.poles, strict=True):
        if pa and pb and pa != pb:
            return f"opposite meaning ({group}: {'/'.join(sorted(pa))} vs {'/'.join(sorted(pb))})"
    return None


def _on_activate(pack: DomainPack) -> Callable[[], None]:
    return lambda: use_vocabulary(pack.guard)


on_activate(_on_activate)
use_vocabulary(active_pack().guard)
