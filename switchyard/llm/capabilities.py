"""What an OpenAI-compatible model server can actually do, probed rather than assumed.

A small local model may accept ``tools`` and silently ignore them (SmolLM2's chat template drops
them: 0 of 5 tool calls even with ``tool_choice="required"``), or have a context of a few thousand
tokens. ``probe_capabilities`` asks the server once, and caches the answer in
``SWITCHYARD_HOME/capabilities.json`` under the model's identity (base URL, model name and what the
server says about the weights), so a different GGUF behind the same URL is probed again.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

CACHE_FILE = "capabilities.json"
# Conservative characters per token for deciding whether a prompt fits without the model's
# tokenizer. SmolLM2's tokenizer on the help-center articles: 3.7 on average, 2.9 on the densest
# (error-code tables); larger-vocabulary models do better. 2.5 errs towards trimming.
CHARS_PER_TOKEN = 2.5

_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}
_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
    "required": ["city", "country"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Capabilities:
    """``tools``: returns a tool call when one is required. ``json_schema``: honours a
    ``response_format`` JSON schema. ``context_tokens``: prompt + output tokens one request may
    use (per slot on llama-server), None when the server does not say."""

    tools: bool
    json_schema: bool
    context_tokens: int | None


def server_root(base_url: str) -> str:
    """``http://host:port/v1`` -> ``http://host:port`` (where llama-server's /props lives)."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _get_json(client: httpx.Client, url: str) -> Any:
    try:
        resp = client.get(url)
        return resp.json() if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def _context_tokens(client: httpx.Client, base_url: str) -> int | None:
    root = server_root(base_url)
    props = _get_json(client, f"{root}/props")
    if isinstance(props, dict):
        n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx")
        if isinstance(n_ctx, int) and n_ctx > 0:
            return n_ctx
    slots = _get_json(client, f"{root}/slots")
    if isinstance(slots, list) and slots and isinstance(slots[0], dict):
        n_ctx = slots[0].get("n_ctx")
        if isinstance(n_ctx, int) and n_ctx > 0:
            return n_ctx
    return None


def model_identity(client: httpx.Client, base_url: str, model: str) -> str:
    """A key that changes when the weights behind ``base_url``/``model`` change."""
    facts: list[Any] = [base_url.rstrip("/"), model]
    models = _get_json(client, f"{base_url.rstrip('/')}/models")
    if isinstance(models, dict):
        for entry in models.get("data") or []:
            if isinstance(entry, dict) and entry.get("id") == model:
                facts.append(entry.get("meta"))  # llama-server: n_params, size, ftype, n_ctx
    props = _get_json(client, f"{server_root(base_url)}/props")
    if isinstance(props, dict):
        facts.append(props.get("model_path"))
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _chat(client: httpx.Client, base_url: str, body: dict) -> dict | None:
    # Transport errors (unreachable, timed out) propagate: "could not ask" must never be cached
    # as "cannot do".
    resp = client.post(f"{base_url.rstrip('/')}/chat/completions", json=body)
    if resp.status_code != 200:  # a server that rejects the feature outright lacks it
        return None
    try:
        return resp.json()["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _probe_tools(client: httpx.Client, base_url: str, model: str) -> bool:
    message = _chat(client, base_url, {
        "model": model, "temperature": 0, "max_tokens": 64, "tools": [_TOOL],
        "tool_choice": "required",
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
    })
    return bool(message and message.get("tool_calls"))


def _probe_json_schema(client: httpx.Client, base_url: str, model: str) -> bool:
    message = _chat(client, base_url, {
        "model": model, "temperature": 0, "max_tokens": 64,
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "place", "schema": _SCHEMA, "strict": True}},
        "messages": [{"role": "user", "content": "Where is the Eiffel Tower? Give city and country."}],
    })
    try:
        data = json.loads((message or {}).get("content") or "")
    except ValueError:
        return False
    return isinstance(data, dict) and all(isinstance(data.get(k), str) for k in _SCHEMA["required"])


def _load_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def probe_capabilities(base_url: str, model: str, api_key: str | None = None, *,
                       home: Path, refresh: bool = False,
                       timeout_s: float = 60.0) -> Capabilities:
    """Probe (or read from the cache in ``home``) what ``model`` at ``base_url`` can do.

    Two tiny generations (a required tool call, a JSON-schema answer) plus /props or /slots for the
    context size, cached in ``home`` (the switchyard home); ``refresh`` ignores the cache.
    Raises ``httpx.TransportError`` when the server cannot be reached (nothing is cached then).
    """
    cache_path = Path(home) / CACHE_FILE
    with httpx.Client(timeout=timeout_s, headers=_headers(api_key)) as client:
        identity = model_identity(client, base_url, model)
        cache = _load_cache(cache_path)
        hit = cache.get(identity)
        if hit and not refresh:
            return Capabilities(**{k: hit[k] for k in ("tools", "json_schema", "context_tokens")})
        caps = Capabilities(
            tools=_probe_tools(client, base_url, model),
            json_schema=_probe_json_schema(client, base_url, model),
            context_tokens=_context_tokens(client, base_url),
        )
    cache[identity] = {**asdict(caps), "base_url": base_url, "model": model, "probed_at": time.time()}
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cache, indent=2))
    tmp.replace(cache_path)
    return caps


def estimate_tokens(text: str) -> int:
    """An upper-side token estimate without the model's tokenizer (see ``CHARS_PER_TOKEN``)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def fits_context(messages_text: str | Iterable[str], capabilities: Capabilities,
                 reserve_tokens: int) -> bool:
    """Whether a prompt plus ``reserve_tokens`` of output fits the model's context.

    ``messages_text`` is the prompt (or its messages' texts). Unknown context size -> True: the
    server's own overflow error (``is_context_overflow``) is then the backstop.
    """
    if capabilities.context_tokens is None:
        return True
    texts = [messages_text] if isinstance(messages_text, str) else list(messages_text)
    # ~4 tokens of chat-template framing per message (role markers, separators).
    prompt = sum(estimate_tokens(t) + 4 for t in texts)
    return prompt + reserve_tokens <= capabilities.context_tokens
