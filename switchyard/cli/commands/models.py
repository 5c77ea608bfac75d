"""``switchyard models``: each tier's resolved model, server, request rules and prices."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from switchyard.llm.factory import ModelFactory


def tier_report(factory: ModelFactory) -> list[dict]:
    """One row per tier of the factory's settings (raises ConfigError on bad settings)."""
    settings = factory.settings
    rows = []
    for name, cfg in settings.tiers.items():
        rules, price = factory.rules(name), factory.price(name)
        key_from = cfg.api_key_env or ("OPENAI_API_KEY" if cfg.provider in ("openai", "local") else
                                       f"{cfg.provider}'s default")
        rows.append({
            "tier": name, "provider": cfg.provider, "model": cfg.model, "family": rules.family,
            "base_url": settings.tier_base_url(name) or "(provider default)",
            "key": "offline" if factory.offline else _key_status(settings, name, key_from),
            "temperature": rules.temperature, "reasoning_effort": rules.reasoning_effort,
            "max_completion_tokens": rules.max_completion_tokens,
            "input_per_m": price.input_per_m, "cached_input_per_m": price.cached_input_per_m,
            "output_per_m": price.output_per_m, "price_source": price.source,
        })
    return rows


def routing_line(sy) -> str:  # noqa: ANN001 - Switchyard, lazily imported
    """The router's active operating point, in one line."""
    point = getattr(sy.classifier, "operating_point", None)
    if point is None:
        return f"routing: {sy.classifier.name} classifier"
    p = point()
    explore = f"; exploration {p['exploration_share']:.0%}" if p["exploration_share"] else ""
    if p["router"] != "outcomes":
        return f"routing: by complexity (the classifier's labels){explore}"
    return (f"routing: learnt from {p['n_outcomes']:,} outcomes ({', '.join(p['tiers'])}; "
            f"{p['trained_on']}); classifier.outcome_cost_weight {p['outcome_cost_weight']:g}"
            f"{explore}")


def _key_status(settings, tier: str, key_from: str) -> str:  # noqa: ANN001 - Settings, lazily imported
    if settings.tier_api_key(tier):
        return f"{key_from} (set)"
    if settings.tier(tier).provider in ("openai", "local") and settings.tier_base_url(tier):
        return "none (server needs no key; placeholder sent)"
    return f"{key_from} (unset)"


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models_cmd(
        as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
        check: bool = typer.Option(False, "--check", help="Also build each tier's model (keys, "
                                   "provider packages); no request is sent."),
    ) -> None:
        """Show each tier's model, server, request rules and prices, as configured."""
        from rich.console import Console
        from rich.table import Table

        from switchyard.app import Switchyard
        from switchyard.core.settings import ConfigError

        try:
            sy = Switchyard()
            models = sy.models
            rows = tier_report(models)
            if check:
                models.check()
        except ConfigError as exc:
            typer.echo(f"switchyard: {exc}", err=True)
            raise typer.Exit(2) from None
        if as_json:
            for row in rows:
                typer.echo(json.dumps(row))
            return
        table = Table(title="switchyard tiers (prices USD per 1M tokens: in / cached in / out)")
        for col in ("tier", "provider", "model", "family", "server", "key", "params", "prices"):
            table.add_column(col, overflow="fold")
        for r in rows:
            params = [f"temperature={r['temperature']}" if r["temperature"] is not None else "",
                      f"effort={r['reasoning_effort']}" if r["reasoning_effort"] else "",
                      f"budget={r['max_completion_tokens']:,}"]
            table.add_row(r["tier"], r["provider"], r["model"], r["family"], r["base_url"], r["key"],
                          " ".join(p for p in params if p),
                          f"{r['input_per_m']:g} / {r['cached_input_per_m']:g} / "
                          f"{r['output_per_m']:g} ({r['price_source']})")
        Console(width=max(Console().width, 140)).print(table)
        typer.echo(routing_line(sy))
        if check:
            typer.echo("every tier's model builds")
