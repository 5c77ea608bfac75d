"""switchyard's offline chat model: a real ``BaseChatModel`` that works with no API key or network.

It is honest about what it is. It does not generate language; it *selects and arranges* what it was
given (retrieved passages, the account snapshot, tool results) into an extractive, cited answer,
and it chooses tools the way a model would see them: by matching the request to the bound tools'
names and descriptions (sentence-embedding similarity plus word overlap) and filling arguments from
the request by the tool schema's field names. Every response names the configured model it
stands in for, reports token usage (so cost accounting runs unchanged), and can simulate the tier's
latency profile (time to first token + decode speed) for benchmarks.

The stage of a multi-step agent (plan, reflect, synthesize, deflect) is read from a marker at the
start of the system prompt; real models simply read the same prompt as an instruction.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from switchyard.core.domain import active_pack
from switchyard.llm.markdown_units import Unit, markdown_units

STAGE_ANSWER = "[stage:answer]"
STAGE_PLAN = "[stage:plan]"
STAGE_REFLECT = "[stage:reflect]"
STAGE_SYNTHESIZE = "[stage:synthesize]"
STAGE_DEFLECT = "[stage:deflect]"
# The agents name each call's step in its metadata (``switchyard_step``); tool-loop turns
# ("agent_0", ...) and anything unnamed are answers.
_STAGES = {"plan": STAGE_PLAN, "reflect": STAGE_REFLECT, "synthesize": STAGE_SYNTHESIZE,
           "deflect": STAGE_DEFLECT}


def _step_of(run_manager: Any) -> str:
    metadata = getattr(run_manager, "metadata", None) or {}
    return str(metadata.get("switchyard_step", "answer"))

_WORD = re.compile(r"[a-z0-9][a-z0-9\-\.']*", re.I)
_PASSAGE_HEAD = re.compile(r"^\[(\d+)\]\s+(.+?)\s+\(source:\s*(\S+?)\)\s*$", re.M)
_STOP = frozenset(
    ["a", "an", "the", "and", "or", "but", "if", "then", "to", "of", "in", "on", "for", "with", "at", "by", "from", "as", "is", "are", "was", "were", "be", "been", "being", "do", "does", "did", "done", "i", "me", "my", "we", "our", "us", "you", "your", "it", "its", "this", "that", "these", "those", "there", "here", "what", "which", "who", "whom", "how", "why", "when", "where", "can", "could", "would", "should", "will", "shall", "may", "might", "must", "have", "has", "had", "not", "no", "yes", "please", "thanks", "thank", "hi", "hello", "hey", "just", "also", "so", "very", "too", "any", "some", "all", "get", "got", "want", "need", "like", "know", "tell", "about", "into", "out", "up", "down", "over", "under", "again", "more", "most", "such", "only", "own", "same", "than", "much", "many", "he", "she", "him", "her", "his", "they", "them", "their", "s", "t"]
)
# How many tools one model turn may call; more looks like a model that did not choose.
_MAX_TOOL_CALLS = 3
_TOOL_MIN_SCORE = 0.34
_TOOL_MARGIN = 0.12


def approx_tokens(text: str) -> int:
    """Token estimate for usage metadata (~4 characters per token for English BPE vocabularies).

    tiktoken's encodings would need a download, so the offline model uses this well-known
    approximation; real models report exact counts.
    """
    return max(1, math.ceil(len(text) / 4))


# English clitics: "what's" is "what", "don't" is "do" (then a stop word). Kept on, they made
# stems such as "what'" that matched any other "what's" as if it were a rare content word.
_CLITIC = re.compile(r"(?:'s|'re|'ve|'ll|'d|'m|n't)$")
_NEGATED = {"can't": "can", "won't": "will", "shan't": "shall"}


def content_words(text: str) -> list[str]:
    words = []
    for raw in _WORD.findall(text):
        w = raw.lower().strip(".'")
        w = _NEGATED.get(w) or _CLITIC.sub("", w)
        if w and w not in _STOP:
            words.append(w)
    return words


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    # "balance"/"balances", "invoice"/"invoiced" share a stem.
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def word_stems(text: str) -> set[str]:
    """The stems of the content words of ``text`` (the offline model's word matching)."""
    return {_stem(w) for w in content_words(text)}


# -- argument extraction ------------------------------------------------------------------------
_NUM = r"(\d[\d,]*(?:\.\d+)?)"


def _to_number(raw: str) -> float:
    return float(raw.replace(",", ""))


def _extract_count(text: str, nouns: str) -> float | None:
    m = re.search(_NUM + r"\s*([kKmM])?\s*(?:\+\s*)?(?:" + nouns + r")\b", text)
    if not m:
        return None
    value = _to_number(m.group(1))
    scale = {"k": 1e3, "m": 1e6}.get((m.group(2) or "").lower(), 1)
    return value * scale


def _extract_months(text: str) -> int | None:
    low = text.lower()
    m = re.search(r"(\d+)\s*months?", low)
    if m:
        return int(m.group(1))
    if re.search(r"\b(last|past|previous)\s+year\b|\b12 months\b|annual", low):
        return 12
    if re.search(r"\b(last|past|previous)\s+quarter\b", low):
        return 3
    if re.search(r"\b(last|past|previous)\s+month\b", low):
        return 1
    return None


def _extract_error_code(text: str) -> str | None:
    m = re.search(r"\b([A-Za-z]{2,4})[- ]?(\d{3})\b", text)
    if m and m.group(1).lower() not in {"the", "and", "for", "got", "get", "with"}:
        prefix = m.group(1).upper()
        if prefix in {"QS", "WH", "AUTH", "SSO", "IMP", "BILL", "WF"}:
            return f"{prefix}-{m.group(2)}"
    http = re.search(r"\b([45]\d{2})\b", text)
    if http:
        low = text.lower()
        family = "WH" if "webhook" in low else "SSO" if ("sso" in low or "saml" in low) else "QS"
        return f"{family}-{http.group(1)}"
    return None


def extract_argument(name: str, schema: dict[str, Any], text: str) -> Any:
    """Fill one tool argument from the request, by the schema field's name and type."""
    low = text.lower()
    kind = schema.get("type")
    enum = schema.get("enum") or (schema.get("items") or {}).get("enum")
    if "anyOf" in schema:
        kinds = [s.get("type") for s in schema["anyOf"] if s.get("type") != "null"]
        kind = kinds[0] if kinds else kind
        for s in schema["anyOf"]:
            enum = enum or s.get("enum")
    if name in {"invoice_number", "invoice_id", "invoice"}:
        m = re.search(r"(?:invoice|inv|bill)\s*(?:no\.?|number|#)?\s*#?\s*(\d{3,7})", low) or re.search(
            r"#\s*(\d{3,7})\b", low
        )
        return int(m.group(1)) if m else None
    if name in {"error_code", "code"}:
        return _extract_error_code(text)
    if name == "months":
        return _extract_months(text)
    if name == "days":
        m = re.search(r"(\d+)\s*days?", low)
        if m:
            return int(m.group(1))
        if "today" in low or "last 24" in low:
            return 1
        return 30 if re.search(r"\bmonth\b", low) else None
    if name == "email":
        m = re.search(r"[\w.+-]+@[\w-]+\.[\w.-]+", text)
        return m.group(0) if m else None
    if name in {"users", "user_count", "seats"}:
        found = _extract_count(text, "users?|seats?|employees|people|licen[cs]es")
        return int(found) if found else None
    if name in {"data_gb", "gb"}:
        m = re.search(_NUM + r"\s*(tb|gb|terabytes?|gigabytes?)\b", low)
        if not m:
            return None
        value = _to_number(m.group(1))
        return value * 1000 if m.group(2).startswith("t") else value
    if name in {"integrations", "integration_count"}:
        found = _extract_count(text, "integrations?|connectors?|apps")
        if found:
            return int(found)
        named = re.findall(r"salesforce|hubspot|zendesk|slack|jira|netsuite|postgres|mysql|snowflake", low)
        return len(set(named)) or None
    if name in {"amount", "charge"}:
        m = re.search(r"\$\s?" + _NUM, text)
        return _to_number(m.group(1)) if m else None
    if name == "billing_cycle":
        return "annual" if re.search(r"annual|yearly|per year|a year", low) else None
    if name == "source_system":
        m = re.search(r"from\s+(?:our\s+)?(?:old\s+)?([A-Z][\w\-]+(?:\s[A-Z][\w\-]+)?)", text)
        return m.group(1) if m else None
    if enum:
        for option in enum:
            if str(option).lower().replace("_", " ") in low or str(option).lower() in low:
                return [option] if kind == "array" else option
        return None
    if kind == "integer":
        m = re.search(r"\b(\d{1,7})\b", text)
        return int(m.group(1)) if m else None
    return None


def tool_call_arguments(tool: dict[str, Any], text: str) -> dict[str, Any] | None:
    """Arguments for ``tool`` from ``text``; None when a required argument cannot be filled."""
    params = tool["function"].get("parameters") or {}
    props: dict[str, Any] = params.get("properties") or {}
    required = set(params.get("required") or [])
    args: dict[str, Any] = {}
    for name, schema in props.items():
        value = extract_argument(name, schema, text)
        if value is None:
            if name in required:
                return None
            continue
        args[name] = value
    return args


# -- context parsing ----------------------------------------------------------------------------
def parse_passages(text: str) -> list[dict[str, str]]:
    """Passages rendered by ``agents.prompts.render_passages``: ``[n] Title (source: url)`` + text."""
    out: list[dict[str, str]] = []
    heads = list(_PASSAGE_HEAD.finditer(text))
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        body = text[head.end() : end]
        body = body.split("</context>")[0].strip()
        out.append({"n": head.group(1), "title": head.group(2), "url": head.group(3), "text": body})
    return out


def _block(text: str, tag: str) -> str:
    # Innermost block: prompts also *mention* the tags ("the snapshot in <account>").
    m = re.search(rf"<{tag}>((?:(?!<{tag}>).)*?)</{tag}>", text, re.S)
    return m.group(1).strip() if m else ""


def passage_body(passage: dict[str, str]) -> str:
    """The passage without the ``Title`` / ``Title > Section`` line chunking puts on top."""
    head, _, rest = passage["text"].partition("\n")
    return rest if head.strip().startswith(passage.get("title", "\0")) else passage["text"]


def best_units(question: str, passages: list[dict[str, str]], limit: int) -> list[tuple[str, Unit]]:
    """Top markdown units (sentences, list items, table rows) by overlap with the question (rare
    words weigh more), kept in reading order, each with its passage number."""
    q = word_stems(question)
    if not q or not passages:
        return []
    cands: list[tuple[int, int, str, Unit]] = []  # (passage rank, position, n, unit)
    for rank, p in enumerate(passages):
        for pos, unit in enumerate(markdown_units(passage_body(p))):
            cands.append((rank, pos, p["n"], unit))
    if not cands:
        return []
    df: dict[str, int] = {}
    stems_of = [word_stems(c[3].text) for c in cands]
    for st in stems_of:
        for w in st:
            df[w] = df.get(w, 0) + 1
    scored = []
    for c, st in zip(cands, stems_of, strict=True):
        overlap = q & st
        score = sum(1.0 + math.log(len(cands) / df[w]) for w in overlap)
        score -= 0.35 * c[0] + 0.05 * c[1]  # prefer better-ranked passages and earlier units
        if overlap:
            scored.append((score, c))
    scored.sort(key=lambda x: -x[0])
    chosen = sorted((c for _, c in scored[:limit]), key=lambda c: (c[0], c[1]))
    return [(c[2], c[3]) for c in chosen]


def render_extract(picked: list[tuple[str, Unit]]) -> str:
    """Sentences run on as a paragraph; list items and table rows stay bullets. Each unit keeps
    its ``[n]`` citation, and blocks are separated by blank lines so the markdown stays valid."""
    blocks: list[tuple[bool, list[str]]] = []  # (is prose, lines)
    for n, unit in picked:
        prose = unit.kind == "sentence"
        line = f"{unit.text} [{n}]" if prose else f"- {unit.text} [{n}]"
        if blocks and blocks[-1][0] == prose:
            blocks[-1][1].append(line)
        else:
            blocks.append((prose, [line]))
    return "\n\n".join((" " if prose else "\n").join(lines) for prose, lines in blocks)


def extract_answer(question: str, passages: list[dict[str, str]], *,
                   account_rows: Sequence[str] = (), action: str = "",
                   tool_parts: Sequence[str] = ()) -> str:
    """The extractive answer: tool results, the account lines that match the question, the
    action's result, then the passages' best units with their ``[n]`` citations and a "Sources:"
    list. What the offline model answers, and what replaces a fast-tier answer that fails the
    grounding check (:mod:`switchyard.llm.grounding`). ``passages``: ``{n, title, url, text}``."""
    parts = list(tool_parts)
    if account_rows:
        q = word_stems(question)
        relevant = [r for r in account_rows if q & word_stems(r)] or list(account_rows[:3])
        parts.append("Your account: " + "; ".join(relevant[:4]) + ".")
    if action.strip():
        parts.append(action.strip())
    picked = best_units(question, passages, limit=3)
    if picked:
        parts.append(render_extract(picked))
    if not parts:
        return ("I couldn't find anything in the knowledge base or your account that answers "
                "this. Could you add a detail (the feature, error code or invoice number)?")
    used = {n for n, _ in picked}
    sources = [f"[{p['n']}] {p['title']} ({p['url']})" for p in passages if p["n"] in used]
    body = "\n\n".join(parts)
    return body + ("\n\nSources:\n" + "\n".join(sources) if sources else "")


def _summarise_tool_result(content: str, max_lines: int = 6) -> list[str]:
    lines = [ln.strip() for ln in content.strip().splitlines() if ln.strip()]
    return lines[:max_lines]


def _tool_doc(name: str, description: str) -> str:
    """How a tool reads when matched against a request: its name in words, then what it does."""
    return f"{name.replace('_', ' ')}: {description}"


# -- the model ----------------------------------------------------------------------------------
class OfflineChatModel(BaseChatModel):
    """Extractive, tool-calling stand-in for a tier's configured chat model."""

    tier: str = "fast"
    stands_in_for: str = "gpt-4o-mini"
    simulate_latency: bool = False
    ttft_ms: float = 0.0
    tokens_per_s: float = 100.0
    max_tokens: int = 800
    reasoning_tokens: int = 0
    # Sentence similarity of the request to each tool's description (the model factory
    # passes the encoder's); None: tools are picked by word overlap alone.
    similarity: Callable[[str, Sequence[str]], np.ndarray] | None = Field(default=None, exclude=True)

    @property
    def _llm_type(self) -> str:
        return "switchyard-offline"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"tier": self.tier, "stands_in_for": self.stands_in_for}

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any):  # type: ignore[override]
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    # The core is synchronous and CPU-light; latency simulation differs between sync and async.
    def _respond(self, messages: list[BaseMessage], tools: list[dict] | None,
                 step: str = "answer") -> AIMessage:
        system = "\n".join(str(m.content) for m in messages if isinstance(m, SystemMessage))
        last_human = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
        question = str(messages[last_human].content) if last_human >= 0 else ""
        tool_msgs = [m for m in messages[last_human + 1 :] if isinstance(m, ToolMessage)]
        context_text = system + "\n" + "\n".join(
            str(m.content) for m in messages if isinstance(m, HumanMessage) and m is not messages[last_human]
        )
        q_text = _block(question, "question") or question
        earlier = [str(m.content) for m in messages[:last_human] if isinstance(m, HumanMessage)]
        if earlier and len(q_text.split()) <= 8:
            # A short turn in a conversation ("and how do I fix it?") means what the turn before
            # it asked: read them together, as a model reading the whole thread would.
            q_text = f"{earlier[-1]} {q_text}"

        if tools and not tool_msgs:
            calls = self._choose_tools(q_text, tools)
            if calls:
                return AIMessage(content="", tool_calls=calls)
        stage = _STAGES.get(step, STAGE_ANSWER)
        if stage == STAGE_PLAN:
            text = self._plan(q_text, system)
        elif stage == STAGE_REFLECT:
            text = self._reflect(question, context_text)
        elif stage == STAGE_SYNTHESIZE:
            text = self._synthesize(q_text, question, context_text)
        elif stage == STAGE_DEFLECT:
            text = self._deflect(q_text)
        else:
            text = self._answer(q_text, context_text + "\n" + question, tool_msgs)
        return AIMessage(content=text)

    # -- tools --
    def _tool_similarity(self, question: str, docs: Sequence[str]) -> np.ndarray:
        if self.similarity is not None:
            return self.similarity(question, docs)
        return np.zeros(len(docs))  # no encoder given: word overlap decides alone

    def _choose_tools(self, question: str, tools: list[dict]) -> list[dict]:
        docs = [_tool_doc(t["function"]["name"], t["function"].get("description", "")) for t in tools]
        sims = self._tool_similarity(question, docs)
        q = word_stems(question)
        scores = []
        for tool, doc, sim in zip(tools, docs, sims, strict=True):
            name_words = word_stems(tool["function"]["name"].replace("_", " "))
            lexical = len(q & word_stems(doc)) / (len(q) + 1) + 0.15 * len(q & name_words)
            scores.append(float(sim) + lexical)
        best = max(scores) if scores else 0.0
        calls: list[dict] = []
        for idx in np.argsort(scores)[::-1]:
            score = scores[idx]
            if score < _TOOL_MIN_SCORE or score < best - _TOOL_MARGIN or len(calls) >= _MAX_TOOL_CALLS:
                break
            args = tool_call_arguments(tools[idx], question)
            if args is None:
                continue
            calls.append(
                {"name": tools[idx]["function"]["name"], "args": args,
                 "id": f"call_{uuid.uuid4().hex[:12]}", "type": "tool_call"}
            )
        return calls

    # -- stages --
    def _footer(self) -> str:
        return (
            f"\n\n_(switchyard offline model standing in for {self.stands_in_for} on the "
            f"{self.tier} tier: an extractive answer assembled from the sources above.)_"
        )

    def _answer(self, question: str, context: str, tool_msgs: list[ToolMessage]) -> str:
        tool_parts: list[str] = []
        for tm in tool_msgs:
            lines = _summarise_tool_result(str(tm.content))
            if lines:
                tool_parts.append(f"**{tm.name}**: " + lines[0]
                                  + "".join(f"\n- {ln}" for ln in lines[1:]))
        account = [ln.strip() for ln in _block(context, "account").splitlines() if ln.strip()]
        passages = parse_passages(_block(context, "context") or context)
        return extract_answer(question, passages, account_rows=account,
                              action=_block(context, "action"), tool_parts=tool_parts) + self._footer()

    def _plan(self, question: str, system: str) -> str:
        tool_lines = re.findall(r"^- (\w+): (.+)$", system, re.M)
        chosen: list[str] = []
        if tool_lines:
            sims = self._tool_similarity(question, [_tool_doc(n, d) for n, d in tool_lines])
            order = np.argsort(sims)[::-1]
            chosen = [tool_lines[i][0] for i in order[:3] if sims[i] > 0.15]
        topics = ", ".join(sorted(set(content_words(question)), key=question.lower().find)[:6])
        steps = [
            f"1. Restate the goal: {question.strip()[:200]}",
            f"2. Retrieve help-center guidance on: {topics or 'the request'}.",
            "3. Gather account facts with tools: " + (", ".join(chosen) if chosen else "none needed") + ".",
            "4. Work out the numbers (costs, timelines, limits) from tool results, not assumptions.",
            "5. Recommend an approach with phases, risks and trade-offs; cite sources.",
        ]
        return "Plan:\n" + "\n".join(steps)

    def _reflect(self, question: str, context: str) -> str:
        draft = _block(question, "draft") or _block(context, "draft")
        evidence = _block(question, "evidence") + _block(context, "evidence") + context
        numbers = set(re.findall(r"\d[\d,]*(?:\.\d+)?", draft))
        unsupported = sorted(n for n in numbers if n not in evidence and len(n) > 1)
        if not draft.strip():
            return "REVISE: the draft is empty."
        if unsupported:
            return "REVISE: figures not found in the evidence: " + ", ".join(unsupported[:8])
        return "OK: every figure in the draft appears in the retrieved passages or tool results."

    def _synthesize(self, question: str, message: str, context: str) -> str:
        draft = _block(message, "draft") or _block(context, "draft")
        plan = _block(message, "plan") or _block(context, "plan")
        review = _block(message, "review") or _block(context, "review")
        draft = draft.split("\n\n_(switchyard offline model")[0].strip()
        sections = [f"**Recommendation for:** {question.strip()[:240]}", draft]
        if plan:
            steps = [ln for ln in plan.splitlines() if re.match(r"\d\.", ln.strip())]
            if steps:
                sections.append("**How I approached it:**\n" + "\n".join(steps[1:]))
        if review:
            sections.append(f"**Check:** {review.strip()}")
        return "\n\n".join(s for s in sections if s) + self._footer()

    def _deflect(self, question: str) -> str:
        product = active_pack().manifest.product
        return (
            f"I'm the {product.name} support assistant, so that's outside what I can help with. "
            f"I can help with {product.help_topics or product.scope}."
            f"\n\n_(switchyard offline model standing in for {self.stands_in_for} on the "
            f"{self.tier} tier: a fixed out-of-scope deflection.)_"
        )

    # -- BaseChatModel plumbing --
    def _result(self, messages: list[BaseMessage], message: AIMessage, tools: list[dict] | None) -> tuple[ChatResult, float]:
        prompt = "\n".join(str(m.content) for m in messages)
        if tools:
            prompt += "\n".join(str(t) for t in tools)
        in_tokens = approx_tokens(prompt)
        visible = str(message.content) + "".join(str(c) for c in message.tool_calls)
        out_visible = approx_tokens(visible) if visible else 1
        reasoning = self.reasoning_tokens
        out_tokens = min(out_visible, self.max_tokens) + reasoning
        simulated_ms = (
            self.ttft_ms + 1000.0 * out_tokens / self.tokens_per_s if self.simulate_latency else 0.0
        )
        message.usage_metadata = {
            "input_tokens": in_tokens,
            "output_tokens": out_tokens,
            "total_tokens": in_tokens + out_tokens,
            "output_token_details": {"reasoning": reasoning},
        }
        message.response_metadata = {
            "model_name": f"offline:{self.stands_in_for}",
            "stands_in_for": self.stands_in_for,
            "offline": True,
            "tier": self.tier,
            "simulated_latency_ms": round(simulated_ms, 1),
            "finish_reason": "tool_calls" if message.tool_calls else "stop",
        }
        return ChatResult(generations=[ChatGeneration(message=message)]), simulated_ms

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = kwargs.get("tools")
        step = _step_of(run_manager)
        result, simulated_ms = self._result(messages, self._respond(messages, tools, step), tools)
        if simulated_ms:
            time.sleep(simulated_ms / 1000.0)
        return result

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = kwargs.get("tools")
        # Tool choice may embed text (CPU): keep it off the event loop.
        message = await asyncio.to_thread(self._respond, messages, tools, _step_of(run_manager))
        result, simulated_ms = self._result(messages, message, tools)
        if simulated_ms:
            await asyncio.sleep(simulated_ms / 1000.0)
        return result
