"""Knowledge-base commands: ``switchyard ingest`` and ``switchyard eval-retrieval``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest_cmd(
        force: bool = typer.Option(False, "--force", help="Re-embed every article."),
    ) -> None:
        """Index the support articles (only changed articles are re-embedded)."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
        from rich.table import Table

        from switchyard.app import Switchyard
        from switchyard.knowledge.ingest import ingest

        console = Console()
        sy = Switchyard()
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("embedding chunks", total=None)

            def on_progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            settings = sy.settings
            report = ingest(force, articles_dir=settings.articles_dir,
                            index_dir=settings.index_dir, chunking=settings.retrieval,
                            embed=lambda texts: sy.encoder.embed(texts),
                            vectors=sy.encoder.vectors_id, progress=on_progress)
        # Shared answers built on an older knowledge version are stale now: drop them here (from
        # the deployment's cache, PostgreSQL when configured), not at the next server start.
        with sy:
            dropped = sy.cache.invalidate_public(report.kb_version)

        table = Table(title="Knowledge base ingest", show_header=False)
        table.add_row("kb_version", report.kb_version)
        table.add_row("articles", str(report.articles))
        table.add_row("chunks", str(report.chunks))
        table.add_row("added", _names(report.added))
        table.add_row("changed", _names(report.changed))
        table.add_row("removed", _names(report.removed))
        table.add_row("unchanged", str(report.unchanged))
        table.add_row("chunks embedded", str(report.embedded_chunks))
        table.add_row("stale cache entries dropped", str(dropped))
        table.add_row("seconds", f"{report.seconds:.2f}")
        if report.note:
            table.add_row("note", report.note)
        console.print(table)

    @app.command("eval-retrieval")
    def eval_cmd(
        k: int = typer.Option(4, "--k", min=1, help="Passages retrieved per question."),
        path: Path | None = typer.Option(None, "--path", help="JSONL of {question, article} "
                                         "(default: the domain pack's paths.retrieval_eval)."),
    ) -> None:
        """Recall@1, recall@k and MRR on the labelled retrieval questions, with the misses."""
        from rich.console import Console
        from rich.table import Table

        from switchyard.app import Switchyard
        from switchyard.cli.main import pack_data_file
        from switchyard.knowledge.retriever import evaluate_retrieval

        console = Console()
        from switchyard.cli.commands.eval import EvalFileError, validate_eval_file

        with Switchyard() as sy:
            path = pack_data_file(sy.settings, "retrieval_eval", path)
            try:  # every line a {question, article} row, before the retriever is loaded
                validate_eval_file(path, "retrieval")
            except EvalFileError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None
            result = evaluate_retrieval(sy.retriever, path, k=k)
        summary = Table(title=f"Retrieval evaluation (kb {result.kb_version})", show_header=False)
        summary.add_row("questions", str(result.questions))
        summary.add_row("recall@1", f"{result.recall_at_1:.3f}")
        summary.add_row(f"recall@{k}", f"{result.recall_at_k:.3f}")
        summary.add_row(f"MRR@{k}", f"{result.mrr:.3f}")
        console.print(summary)
        if result.misses:
            misses = Table(title=f"Misses ({len(result.misses)})")
            misses.add_column("question")
            misses.add_column("expected")
            misses.add_column("retrieved")
            for m in result.misses:
                misses.add_row(m.question, m.expected, ", ".join(m.got) or "-")
            console.print(misses)


def _names(items: list[str]) -> str:
    if not items:
        return "0"
    shown = ", ".join(items[:6]) + (" …" if len(items) > 6 else "")
    return f"{len(items)} ({shown})"
