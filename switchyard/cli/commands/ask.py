"""``switchyard ask``, ``switchyard setup`` and ``switchyard demo``: the main job, from a terminal."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from switchyard.cli.params import utf8_text

if TYPE_CHECKING:
    from switchyard.app import Switchyard

def demo_requests() -> list[tuple[str, str | None]]:
    """What `switchyard demo` asks: the active domain pack's ``[[demo]]`` requests, else its
    first labelled requests."""
    from switchyard.core.domain import active_pack

    pack = active_pack()
    if pack.manifest.demo:
        return [(d.text, d.user) for d in pack.manifest.demo]
    train = pack.routing_dir / "train.jsonl"
    lines = train.read_text(encoding="utf-8").splitlines() if train.is_file() else []
    return [(str(json.loads(x)["text"]), None) for x in lines if x.strip()][:6]


def _read_text(text: str) -> str:
    if text == "-":
        raw = sys.stdin.buffer.read()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise typer.BadParameter(
                f"stdin is not valid UTF-8 (bad byte at offset {exc.start}); re-send it as UTF-8."
            ) from exc
    return text


def _fail(message: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"error": message}))
    else:
        Console(stderr=True).print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=2)


def register(app: typer.Typer) -> None:
    @app.command()
    def ask(
        text: Annotated[str, typer.Argument(help="The request; '-' reads it from stdin.")],
        user: Annotated[str | None, typer.Option(
            "--user", callback=utf8_text,
            help="Signed-in user id (default: the demo user, settings.demo_user_id).")] = None,
        tenant: Annotated[str | None, typer.Option(callback=utf8_text,
                                                   help="Tenant (cache partition).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="Skip the semantic cache.")] = False,
    ) -> None:
        """Route one request through the graph and print the answer with its routing record."""
        from switchyard.cli.main import friendly_error, startup_ms

        try:
            text = _read_text(text)
        except typer.BadParameter as exc:
            _fail(str(exc), as_json)
        try:
            # Everything loads before the request starts: latency_ms is the request's own time,
            # start-up (imports, models, index) is reported apart as startup_ms.
            with open_for_one_request() as sy:
                # The demo user is the CLI's choice, made here: the graph never assumes a user.
                user_id = sy.settings.demo_user_id if user is None else user
                # An unknown or empty user is refused here, before anything is routed or cached
                # (the graph's intake refuses them too, for every other caller).
                sy.database.require_user(user_id)
                started = startup_ms()
                routed = sy.ask(text, user_id=user_id, tenant=tenant, use_cache=not no_cache)
                routed.startup_ms = started
                record = routed.model_dump()
        except Exception as exc:  # a provider/infra failure: say what, no traceback
            _fail(friendly_error(exc), as_json)
        if record.get("error"):
            if as_json:
                typer.echo(json.dumps(record, default=str))
                raise typer.Exit(code=2)
            _fail(record["error"], as_json)
        if as_json:
            typer.echo(json.dumps(record, default=str))
            return
        console = Console()
        console.print(record["answer"])
        cache = record["cache"]
        sim = f"{record['similarity']:.3f}" if record["similarity"] is not None else "-"
        console.print(
            f"\n[dim]agent[/] [bold]{record['agent']}[/]  [dim]complexity[/] {record['complexity']}"
            f"  [dim]intent[/] {record['intent']}  [dim]cache[/] "
            f"{'HIT' if record['cache_hit'] else 'miss'} (sim {sim}; {cache.get('reason', '')})"
            f"  [dim]cost[/] ${record['cost_usd']:.6f}  [dim]latency[/] {record['latency_ms']:.0f} ms"
            f"  [dim]model[/] {record['model']}  [dim]tools[/] {', '.join(record['tools_used']) or '-'}"
            f"\n[dim]start-up (imports, models, index; not part of the request) "
            f"{record['startup_ms']:.0f} ms[/]"
        )

    @app.command()
    def setup(
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    ) -> None:
        """Seed the customer database, build the knowledge index and fit the classifier (idempotent)."""
        from switchyard.app import Switchyard

        console = Console()
        with console.status("Preparing database, knowledge index and classifier..."), \
                Switchyard() as sy:
            report = sy.setup()
        if as_json:
            typer.echo(json.dumps(report.to_dict(), default=str))
            return
        for line in report.lines():
            typer.echo(line)  # plain lines: never wrapped or styled when piped

    @app.command()
    def demo(
        as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary table, no answers.")] = False,
    ) -> None:
        """Route a handful of requests across the tiers (including repeats served by the cache)."""
        from switchyard.cli.main import startup_ms

        # Wide enough for the table even when piped (rich assumes 80 columns then).
        console = Console(width=max(Console().width, 140))
        with console.status("Preparing database, knowledge index, classifier and models..."):
            sy = open_for_one_request()
        started = startup_ms()
        table = Table(title="switchyard: routed requests (offline model unless OPENAI_API_KEY is set)")
        table.add_column("request", max_width=48, overflow="ellipsis", no_wrap=True)
        for col in ("user", "agent", "complexity", "cache", "cost $", "latency ms"):
            table.add_column(col, no_wrap=True)
        table.add_column("tools", overflow="fold")
        with sy:
            for number, (text, user) in enumerate(demo_requests(), start=1):
                record = sy.ask(text, user_id=user or sy.settings.demo_user_id).model_dump()
                if as_json:
                    typer.echo(json.dumps({**record, "startup_ms": started}, default=str))
                    continue
                if not quiet:
                    print_routed_answer(console, number, text, user, record)
                sim = record["similarity"]
                cache = ("HIT" if record["cache_hit"] else "miss") + (f" {sim:.2f}" if sim is not None else "")
                table.add_row(text, user or "demo", record["agent"], record["complexity"], cache,
                              f"{record['cost_usd']:.6f}", f"{record['latency_ms']:.0f}",
                              ", ".join(record["tools_used"]) or "-")
        if not as_json:
            console.print(table)
            console.print(f"[dim]Start-up (imports, models, index) {started:.0f} ms, not counted in "
                          "any request's latency. Costs are projections at the configured list prices; "
                          "answers come from the offline stand-in model when no API key is set.[/]")


def open_for_one_request() -> Switchyard:
    """The front door, prepared for a process that answers one request at a time (``ask``,
    ``demo``)."""
    from switchyard.app import Switchyard

    return Switchyard.open()


def print_routed_answer(console: Console, number: int, text: str, user: str | None,
                        record: dict) -> None:
    """One request: what was asked, how it was routed, a short answer and its sources."""
    from rich.markdown import Markdown
    from rich.padding import Padding

    from switchyard.cli.answer_view import excerpt, sources_for, split_answer

    sim = record["similarity"]
    cache = "cache HIT" + (f" {sim:.2f}" if sim is not None else "") if record["cache_hit"] else "cache miss"
    tools = ", ".join(record["tools_used"]) or "no tools"
    console.print(f"[bold]{number}. {escape(text)}[/]  [dim]({user or 'demo user'})[/]")
    console.print(Padding(
        f"[cyan]{record['agent']}[/] · {record['complexity']} · {cache} · ${record['cost_usd']:.6f}"
        f" · {record['latency_ms']:.0f} ms · {escape(tools)}", (0, 0, 0, 3)))
    body, cited = split_answer(record["answer"] or "")
    console.print(Padding(Markdown(excerpt(body)), (0, 0, 0, 3)))
    sources = sources_for(record, cited)
    if sources:
        lines = "\n".join(escape(s) for s in sources)
        console.print(Padding(f"[dim]sources:\n{lines}[/]", (0, 0, 0, 3)))
    console.print()
