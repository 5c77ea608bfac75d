"""``switchyard classify`` (JSONL in, one verdict per line out) and ``switchyard route eval|train``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, TextIO

import typer

from switchyard.cli.overlay import merge_overlay, read_overlay, same_file, writable_target
from switchyard.core.jsonsafe import loads_limited
from switchyard.core.langsmith_feedback import DEFAULT_SINCE_DAYS

if TYPE_CHECKING:
    from switchyard.classifier import Classifier

_CHUNK = 512  # lines embedded per batch: bounded memory, and output flows while reading
MAX_LINE_DEPTH = 32  # a request line is {id, text, history}: anything deeper is hostile


def _parse_line(n: int, line: str | bytes, max_chars: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(request, None) for a usable line, else (None, error object). Never raises."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, {"id": None, "line": n,
                          "error": f"line {n}: not valid UTF-8 (bad byte at offset {exc.start})"}
    if not line.strip():
        return None, {"id": None, "line": n, "error": f"line {n}: empty line"}
    try:
        obj = loads_limited(line, MAX_LINE_DEPTH)
    except json.JSONDecodeError as exc:
        return None, {"id": None, "line": n, "error": f"line {n}: not valid JSON ({exc.msg})"}
    except ValueError as exc:  # JsonLimitError: nested too deeply
        return None, {"id": None, "line": n, "error": f"line {n}: {exc}"}
    if not isinstance(obj, dict):
        return None, {"id": None, "line": n, "error": f"line {n}: expected a JSON object with a 'text' field"}
    rid = obj.get("id", n)
    why = _unwritable(rid)
    if why:
        return None, {"id": None, "line": n, "error": f"line {n}: 'id' {why}"}
    text = obj.get("text")
    if not isinstance(text, str):
        return None, {"id": rid, "line": n, "error": f"line {n}: 'text' must be a string"}
    if not text.strip():
        return None, {"id": rid, "line": n, "error": f"line {n}: 'text' is empty"}
    if len(text) > max_chars:
        return None, {"id": rid, "line": n, "error": f"line {n}: 'text' is {len(text)} chars; limit {max_chars}"}
    history = obj.get("history") or []
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        return None, {"id": rid, "line": n, "error": f"line {n}: 'history' must be a list of strings"}
    return {"id": rid, "line": n, "text": text, "history": history}, None


def _unwritable(value: Any) -> str | None:
    """Why ``value`` cannot be echoed as standard JSON in UTF-8 (NaN/Infinity, a lone
    surrogate), else None."""
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except ValueError as exc:  # UnicodeEncodeError is a ValueError
        if isinstance(exc, UnicodeEncodeError):
            return "is not valid Unicode (a lone surrogate)"
        return "holds NaN or Infinity, which is not standard JSON"
    return None


def _dump(obj: dict[str, Any]) -> tuple[str, bool]:
    """(one output line, is it an error): always standard JSON that encodes as UTF-8; an
    object that is not (a non-finite score, a lone surrogate) becomes that line's error."""
    try:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except ValueError:
        line = obj.get("line")
        return json.dumps({"id": None, "line": line,
                           "error": f"line {line}: verdict is not writable as JSON"}), True
    return text, "error" in obj


def _lines(stream: IO[Any]) -> Iterator[tuple[int, str | bytes]]:
    """Lines as read: bytes from a binary stream are decoded per line in ``_parse_line``, so one
    undecodable line fails alone."""
    for n, line in enumerate(stream, 1):
        yield n, line.rstrip(b"\r\n" if isinstance(line, bytes) else "\r\n")


def _verdict(req: dict[str, Any], c: Any) -> dict[str, Any]:
    return {
        "id": req["id"],
        "line": req["line"],
        "complexity": c.complexity,
        "agent": c.recommended_agent,
        "confidence": round(c.confidence, 4),
        "intent": c.intent,
        "requires_auth": c.requires_auth,
        "tools_needed": c.tools_needed,
        "in_scope": c.in_scope,
        "follow_up": c.follow_up,
        "scores": c.scores,
        "classifier": c.classifier,
        "cost_usd": c.cost_usd,
    }


def _classify_one(clf: Any, req: dict[str, Any]) -> dict[str, Any]:
    try:
        return _verdict(req, clf.classify_many([req["text"]], [req["history"]])[0])
    except Exception as exc:
        return {"id": req["id"], "line": req["line"],
                "error": f"line {req['line']}: classifier failed ({type(exc).__name__}: {exc})"}


def run_classify(inp: IO[Any], out: TextIO, clf: Classifier, max_chars: int) -> dict[str, int]:
    """Classify a JSONL stream; one output object per input line, same order. Returns counts."""
    counts = {"lines": 0, "errors": 0}
    pending: list[tuple[int, str]] = []

    def flush() -> None:
        parsed = [(n, *_parse_line(n, line, max_chars)) for n, line in pending]
        reqs = [r for _, r, _ in parsed if r is not None]
        try:
            verdicts = clf.classify_many([r["text"] for r in reqs], [r["history"] for r in reqs]) if reqs else []
            by_line = {r["line"]: _verdict(r, v) for r, v in zip(reqs, verdicts, strict=True)}
        except Exception:  # one bad line must not fail its batch: retry line by line
            by_line = {r["line"]: _classify_one(clf, r) for r in reqs}
        for n, _req, err in parsed:
            text, failed = _dump(err if err is not None else by_line[n])
            counts["errors"] += failed
            out.write(text + "\n")
        counts["lines"] += len(pending)
        pending.clear()

    for n, line in _lines(inp):
        pending.append((n, line))  # blank lines too: they get an error object, never dropped
        if len(pending) >= _CHUNK:
            flush()
    if pending:
        flush()
    out.flush()
    return counts


def _check_input(path: Path) -> None:
    """``--in`` names a file that exists and can be read (a usage error otherwise)."""
    import os

    if not path.exists():
        raise typer.BadParameter(f"{path} does not exist", param_hint="'--in'")
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a directory; name a JSONL file", param_hint="'--in'")
    if not os.access(path, os.R_OK):
        raise typer.BadParameter(f"{path} cannot be read (permission denied)", param_hint="'--in'")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def register(app: typer.Typer) -> None:
    @app.command()
    def classify(
        inp: Annotated[Path | None, typer.Option("--in", help="JSONL input ({id?, text, history?}); default stdin.")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="JSONL output; default stdout.")] = None,
    ) -> None:
        """Classify requests: one JSON verdict per input line (complexity, agent, intent, scope...)."""
        # Binary: each line is decoded on its own, so one bad byte fails one line only.
        from switchyard.app import Switchyard

        if inp is not None:
            _check_input(inp)
        if out is not None:
            if inp is not None and same_file(inp, out):
                raise typer.BadParameter(f"--out {out} is the --in file; writing it would erase "
                                         "the input: name another file", param_hint="'--out'")
            out = writable_target(out, "--out")
        sy = Switchyard.for_batch()
        clf = sy.classifier  # loaded (or fitted) before any input is read
        src = inp.open("rb") if inp else sys.stdin.buffer
        dst = out.open("w", encoding="utf-8") if out else sys.stdout
        try:
            counts = run_classify(src, dst, clf, sy.settings.max_input_chars)
        finally:
            if inp:
                src.close()
            if out:
                dst.close()
        if out:
            typer.echo(f"{counts['lines']} lines -> {out} ({counts['errors']} errors)", err=True)

    route_app = typer.Typer(help="Evaluate and retrain the router's classifier on labelled traffic.",
                            no_args_is_help=True)

    @route_app.command("eval")
    def route_eval(
        labeled: Annotated[Path | None, typer.Option("--labeled", help="Labelled JSONL (text, complexity, "
                                                     "intent?, in_scope?, history?); default: the test split.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
        outcomes: Annotated[Path | None, typer.Option(
            "--outcomes", help="Outcome JSONL (docs/outcomes.md): report the quality-cost curve, "
                               "APGR and CPT instead of label accuracy.")] = None,
        folds: Annotated[int | None, typer.Option(
            "--folds", min=2, help="With --outcomes: cross-validate, refitting the router from the "
                                   "defaults on the other folds (folds by prompt hash).")] = None,
        chart: Annotated[Path | None, typer.Option(
            "--chart", help="With --outcomes: where to save the PNG chart (default "
                            "SWITCHYARD_HOME/route-eval.png).")] = None,
    ) -> None:
        """Accuracy, confusion matrix, under/over-routing and their cost, and suggested thresholds;
        with --outcomes, the quality kept per share of expert calls (APGR, CPT)."""
        from rich.console import Console
        from rich.table import Table

        from switchyard.app import Switchyard
        from switchyard.classifier.data import load_labeled
        from switchyard.classifier.metrics import routing_costs, routing_report, suggest_thresholds
        from switchyard.core.settings import TIERS

        if outcomes is None and folds is not None:
            raise typer.BadParameter("--folds needs --outcomes")
        if outcomes is not None:
            from switchyard.cli import outcome_routing as orr

            rows_o = orr.load_or_exit(outcomes)
            if folds:
                orr.check_folds(rows_o, folds)
            sy = Switchyard.for_batch()
            png = orr.chart_path(chart, sy.settings.home)  # writable, before the work
            report = orr.evaluate(sy, outcomes, rows_o, folds)
            orr.write_chart(report, png)
            if as_json:
                report.pop("_curves")
                typer.echo(json.dumps({**report, "chart": str(png)}, indent=1))
                return
            orr.print_report(report)
            typer.echo(f"chart: {png}")
            return
        sy = Switchyard.for_batch()
        path = labeled or sy.settings.routing_data_dir / "test.jsonl"
        try:
            rows = load_labeled(path)
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(str(exc)) from exc
        if not rows:
            raise typer.BadParameter(f"{path} has no labelled rows")
        preds = sy.classifier.classify_many([r.text for r in rows], [r.history or None for r in rows])
        rep = routing_report(rows, preds)
        costs = routing_costs(rows, preds, sy.settings)
        sugg = suggest_thresholds(rows, preds, sy.settings)
        if as_json:
            typer.echo(json.dumps({"path": str(path), **rep, "costs": costs, "suggestions": sugg}, indent=1))
            return
        con = Console()
        con.print(f"[bold]{path}[/] - {rep['n']} requests ({rep['n_high']} expert-tier)")
        con.print(
            f"tier accuracy {_pct(rep['tier_accuracy'])} | complexity {_pct(rep['complexity_accuracy'])} | "
            f"intent {_pct(rep['intent_accuracy'])} | scope {_pct(rep['scope_accuracy'])}"
        )
        con.print(
            f"high recall {_pct(rep['high_recall'])} | high->fast {_pct(rep['high_to_fast_rate'])} | "
            f"under-routed {_pct(rep['under_routing_rate'])} | over-routed {_pct(rep['over_routing_rate'])}"
        )
        table = Table(title="confusion (rows: expected agent, columns: routed agent)")
        table.add_column("expected \\ routed")
        for t in TIERS:
            table.add_column(t, justify="right")
        for t in TIERS:
            table.add_row(t, *[str(rep["confusion"][t][p]) for p in TIERS])
        con.print(table)
        con.print(
            "cost (estimated from tier prices: "
            + ", ".join(f"{t} ${costs[f'usd_per_{t}_request']:.4f}/req" for t in TIERS) + ")"
        )
        con.print(
            f"  routed ${costs['routed_usd']:.2f} vs perfect ${costs['ideal_usd']:.2f} vs all-expert "
            f"${costs['all_expert_usd']:.2f}; over-routing wasted ${costs['over_routing_extra_usd']:.2f}; "
            f"under-routing saved ${costs['under_routing_saved_usd']:.2f} at a quality cost "
            f"(error penalty {costs['error_penalty_per_request']:.3f}/request)"
        )
        con.print(
            f"  on the article's traffic mix (65% low / 30% medium / 5% high) this routing would spend "
            f"{costs['mix_overspend_pct']:+.1f}% vs perfect routing, before caching"
        )
        st = Table(title="what if: under-routing weight (x classifier.error_costs below the diagonal)")
        for col in ("weight", "tier acc", "high recall", "high->fast", "over", "under"):
            st.add_column(col, justify="right")
        for s in sugg["under_weight"]:
            st.add_row(f"{s['under_weight']:g}", _pct(s["tier_accuracy"]), _pct(s["high_recall"]),
                       _pct(s["high_to_fast_rate"]), _pct(s["over_routing_rate"]), _pct(s["under_routing_rate"]))
        con.print(st)
        ct = Table(title="cascade threshold: share sent to the LLM, local accuracy below / above")
        for col in ("threshold", "to LLM", "acc below", "acc above"):
            ct.add_column(col, justify="right")
        for c in sugg["cascade"]:
            ct.add_row(f"{c['threshold']:g}", _pct(c["share_to_llm"]),
                       "-" if c["local_acc_below"] is None else _pct(c["local_acc_below"]),
                       "-" if c["local_acc_above"] is None else _pct(c["local_acc_above"]))
        con.print(ct)
        con.print(
            f"suggested: scale under-routing costs by {sugg['suggested_under_weight']:g} "
            f"(lowest weight keeping high recall >= 95% and high->fast <= 1%, best accuracy); "
            f"cascade_threshold {sugg['suggested_cascade_threshold']:g} "
            f"(SWITCHYARD_CLASSIFIER__CASCADE_THRESHOLD)"
        )

    @route_app.command("train")
    def route_train(
        labeled: Annotated[Path | None, typer.Option("--labeled", help="Your labelled JSONL; default: the "
                                                     "bundled train+dev splits.")] = None,
        outcomes: Annotated[Path | None, typer.Option(
            "--outcomes", help="Outcome JSONL (docs/outcomes.md): learn each tier's chance of a "
                               "good answer; intents and scope stay as they are.")] = None,
        from_feedback: Annotated[bool, typer.Option(
            "--from-feedback", help="Learn from the feedback stored by POST /v1/feedback "
                                    "(importance-weighted; with --outcomes, both).")] = False,
        from_langsmith: Annotated[str | None, typer.Option(
            "--from-langsmith", help="Learn from the feedback on this LangSmith project's "
                                     "switchyard runs.")] = None,
        since_days: Annotated[float, typer.Option(
            "--since-days", min=0.001, help="With --from-langsmith: runs started in the last N "
                                            "days.")] = DEFAULT_SINCE_DAYS,
    ) -> None:
        """Refit the local classifier (on your own labelled file, or back on the bundled data);
        with --outcomes / --from-feedback / --from-langsmith, fit the router on outcomes."""
        import time

        from switchyard.app import Switchyard
        from switchyard.classifier.local import default_training_files, train_from_files

        if outcomes is not None or from_feedback or from_langsmith:
            if labeled is not None:
                raise typer.BadParameter("train on labels (--labeled) or on outcomes, one at a time")
            from switchyard.cli import outcome_routing as orr

            rows_o = orr.load_or_exit(outcomes) if outcomes is not None else []
            sources = [f"outcomes:{outcomes.resolve()}"] if outcomes is not None else []
            sy = Switchyard.for_batch()
            if from_feedback:
                got = orr.feedback_outcomes(sy)
                rows_o += got
                sources.append(f"feedback:{len(got)}")
            if from_langsmith:
                got = orr.langsmith_outcomes(sy, from_langsmith, since_days)
                rows_o += got
                sources.append(f"langsmith:{from_langsmith}:{len(got)}")
            if not rows_o:
                raise typer.BadParameter("no outcomes to learn from (no rated runs yet?)")
            orr.enough_tiers(rows_o, " + ".join(
                flag for flag, on in (("--outcomes", outcomes is not None),
                                      ("--from-feedback", from_feedback),
                                      (f"--from-langsmith {from_langsmith}", from_langsmith))
                if on))
            typer.echo(orr.train(sy, rows_o, source=",".join(sources)))
            return
        sy = Switchyard.for_batch()
        settings = sy.settings
        files = [labeled] if labeled else default_training_files(settings.routing_data_dir)
        source = f"custom:{labeled.resolve()}" if labeled else "bundled"
        t0 = time.perf_counter()
        try:
            model = train_from_files(files, settings.classifier_path, sy.encoder, source=source)
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(str(exc)) from exc
        typer.echo(
            f"fitted on {model.bank.shape[0]} standalone requests, {len(model.intents)} intents "
            f"in {time.perf_counter() - t0:.1f}s -> {settings.classifier_path}"
        )

    @route_app.command("calibrate")
    def route_calibrate(
        outcomes: Annotated[Path, typer.Option("--outcomes", help="Outcome JSONL to calibrate on "
                                               "(held out from training, ideally).")],
        expert_share: Annotated[float | None, typer.Option(
            "--expert-share", min=0.0, max=1.0, help="Send this share of requests to the expert.")] = None,
        min_quality: Annotated[float | None, typer.Option(
            "--min-quality", min=0.0, max=1.0,
            help="Keep this share of all-expert quality, as cheaply as possible.")] = None,
        write: Annotated[Path | None, typer.Option(
            "--write", help="JSON settings overlay to write the operating point into (default: "
                            "the .json file SWITCHYARD_CONFIG names).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the operating point as JSON.")] = False,
    ) -> None:
        """Set the quality-cost dial of a router trained on outcomes: a target expert share, or a
        target share of all-expert quality. Writes classifier.outcome_cost_weight."""
        from switchyard.app import Switchyard
        from switchyard.cli import outcome_routing as orr

        if (expert_share is None) == (min_quality is None):
            raise typer.BadParameter("give one of --expert-share or --min-quality")
        target = orr.overlay_path(write)
        writable_target(target, "the overlay")  # and a malformed one fails now, not after
        read_overlay(target)  # embedding every request
        rows_o = orr.load_or_exit(outcomes)
        # SWITCHYARD_CONFIG may name the overlay this command is to create: settings load it
        # empty meanwhile, and it goes again if the calibration fails.
        created = write is None and not target.exists()
        if created:
            merge_overlay(target, "classifier", {})
        try:
            sy = Switchyard.for_batch()
            point = orr.calibrate(sy, rows_o, expert_share=expert_share, min_quality=min_quality)
        except BaseException:
            if created:
                target.unlink(missing_ok=True)
            raise
        merge_overlay(target, "classifier", {"outcome_cost_weight": point["cost_weight"]})
        if as_json:
            typer.echo(json.dumps({**point, "written": str(target)}))
            return
        typer.echo(
            f"classifier.outcome_cost_weight = {point['cost_weight']:.6g} -> {target}\n"
            f"on {outcomes} ({point['n']} requests): "
            + ", ".join(f"{t} {v:.1%}" for t, v in point["share"].items())
            + (f"; quality kept {point['quality_kept']:.1%}" if point["quality_kept"] is not None else "")
            + f"; cost {point['cost_share']:.1%} of all-expert")

    app.add_typer(route_app, name="route")
