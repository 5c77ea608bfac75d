"""``switchyard eval``: the domain pack's labelled sets, measured, with an optional LangSmith upload.

Suites:
- ``routing``: the classifier on the pack's ``routing/<split>.jsonl`` (tier accuracy, high recall,
  under/over-routing, confusion);
- ``retrieval``: the pack's ``paths.retrieval_eval`` through ``knowledge.retriever.evaluate_retrieval``
  (recall@1, recall@k, MRR);
- ``tools``: the pack's ``paths.tool_choice``, each request sent to its tier's model with that tier's tools
  bound; a row counts when the model's first round of tool calls includes an expected tool.

``--upload`` (needs ``LANGSMITH_API_KEY``) writes each suite as a LangSmith dataset (idempotent:
example ids derive from the inputs) and the results as an experiment on it, one run per example
with a ``correct`` feedback score. Offline nothing is uploaded and no key is needed.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from langsmith import Client

    from switchyard.app import Switchyard

SUITES = ("routing", "retrieval", "tools")
_NAMESPACE = uuid.UUID("6f1c1e4e-3f7e-4a53-9a43-5b0c2d7e9a11")


# -- suites -----------------------------------------------------------------------------------
def eval_routing(sy: Switchyard, split: str = "test") -> dict[str, Any]:
    from switchyard.classifier.data import load_labeled
    from switchyard.classifier.metrics import expected_agent, routing_report

    path = _routing_split(sy.settings, split)
    rows = load_labeled(path)
    preds = sy.classifier.classify_many([r.text for r in rows], [r.history or None for r in rows])
    report = routing_report(rows, preds)
    report["path"] = str(path)
    report["rows"] = [
        {"inputs": {"text": r.text, "history": r.history},
         "reference": {"agent": expected_agent(r), "complexity": r.complexity, "intent": r.intent},
         "prediction": {"agent": p.recommended_agent, "complexity": p.complexity,
                        "intent": p.intent, "confidence": round(p.confidence, 4)},
         "correct": expected_agent(r) == p.recommended_agent}
        for r, p in zip(rows, preds, strict=True)
    ]
    return report


def eval_retrieval(sy: Switchyard, k: int = 4) -> dict[str, Any]:
    from switchyard.knowledge.retriever import evaluate_retrieval, load_eval

    path = _pack_file(sy.settings, "retrieval_eval")
    result = evaluate_retrieval(sy.retriever, path, k=k).model_dump()
    missed = {m["question"] for m in result["misses"]}
    result["path"] = str(path)
    result["rows"] = [
        {"inputs": {"question": r["question"]}, "reference": {"article": r["article"]},
         "prediction": {"in_top_k": r["question"] not in missed},
         "correct": r["question"] not in missed}
        for r in load_eval(path)
    ]
    return result


class EvalDataError(Exception):
    """A suite's data is missing from the domain pack; the message says what to add."""


def _pack_file(settings: Any, key: str) -> Path:
    """The domain pack's ``[paths] <key>`` file (an :class:`EvalDataError` naming the fix)."""
    from switchyard.core.pack import PackError

    try:
        return settings.pack.data_file(key)
    except PackError as exc:
        raise EvalDataError(str(exc)) from None


def _routing_split(settings: Any, split: str) -> Path:
    """The pack's ``routing/<split>.jsonl`` (an :class:`EvalDataError` naming the fix)."""
    path = settings.routing_data_dir / f"{split}.jsonl"
    if not path.is_file():
        raise EvalDataError(f"no routing split {path}; fix: add {split}.jsonl (labelled requests "
                            "kept out of training) to the domain pack's routing folder")
    return path


def check_suite_data(settings: Any, suites: list[str], split: str = "test") -> None:
    """Every file the chosen suites read exists in the domain pack (an :class:`EvalDataError`
    otherwise), checked before anything is set up."""
    for suite in suites:
        if suite == "routing":
            _routing_split(settings, split)
        else:
            _pack_file(settings, "retrieval_eval" if suite == "retrieval" else "tool_choice")


class EvalFileError(Exception):
    """A suite's input file is unusable: ``FILE: line N: reason`` (or ``FILE: reason``)."""


_MAX_DEPTH = 32
_SHOWN = 5  # bad lines listed before "... and N more"


def _str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if key not in obj:
        return f"missing '{key}'"
    if not isinstance(value, str) or not value.strip():
        return f"'{key}' must be a non-empty string"
    if not _unicode_ok(value):
        return f"'{key}' is not valid Unicode (a lone surrogate)"
    return None


def _unicode_ok(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _str_list(obj: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and _unicode_ok(v) for v in value) or (
            required and not value):
        return f"'{key}' must be a {'non-empty ' if required else ''}list of strings"
    return None


def _routing_problem(obj: dict[str, Any]) -> str | None:
    from switchyard.core.domain import COMPLEXITIES

    why = _str(obj, "text")
    if why:
        return why
    complexity = obj.get("complexity")
    if not isinstance(complexity, str) or complexity.lower() not in COMPLEXITIES:
        return f"'complexity' must be one of {', '.join(COMPLEXITIES)}"
    if obj.get("intent") is not None and not isinstance(obj["intent"], str):
        return "'intent' must be a string"
    for key in ("in_scope", "requires_auth", "follow_up"):
        if obj.get(key) is not None and not isinstance(obj[key], bool):
            return f"'{key}' must be true or false"
    return _str_list(obj, "history") or _str_list(obj, "tools_needed")


def _retrieval_problem(obj: dict[str, Any]) -> str | None:
    return _str(obj, "question") or _str(obj, "article")


def _tools_problem(obj: dict[str, Any]) -> str | None:
    if "tier" not in obj:
        return "missing 'tier'"
    if obj["tier"] not in ("standard", "expert"):
        return "'tier' must be standard or expert"
    return _str(obj, "request") or _str_list(obj, "expected", required=True)


_CHECKS = {"routing": (_routing_problem, "{text, complexity, intent?, history?}"),
           "retrieval": (_retrieval_problem, "{question, article}"),
           "tools": (_tools_problem, "{request, tier, expected: [tools]}")}


def validate_eval_file(path: Path, suite: str) -> int:
    """The number of rows of a suite's JSONL file, once every line is a usable row; an
    :class:`EvalFileError` naming the file and the bad lines (or why the file is unusable)."""
    import os

    from switchyard.core.jsonsafe import loads_limited

    check, shape = _CHECKS[suite]
    if not path.exists():
        raise EvalFileError(f"{path}: no such file")
    if path.is_dir():
        raise EvalFileError(f"{path}: is a directory; name a JSONL file")
    if not os.access(path, os.R_OK):
        raise EvalFileError(f"{path}: cannot be read (permission denied)")
    bad: list[str] = []
    rows = 0
    try:
        with path.open("rb") as fh:
            for n, raw in enumerate(fh, 1):
                why: str | None = None
                if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    why = "starts with a byte-order mark; save the file as UTF-8 without BOM"
                else:
                    try:
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        why = f"not valid UTF-8 (bad byte at offset {exc.start})"
                    else:
                        if not line.strip():
                            continue
                        try:
                            obj = loads_limited(line, _MAX_DEPTH)
                        except json.JSONDecodeError as exc:
                            why = f"not valid JSON ({exc.msg})"
                        except ValueError as exc:  # nested too deeply
                            why = str(exc)
                        else:
                            why = (check(obj) if isinstance(obj, dict) else
                                   f"expected a JSON object {shape}, got {type(obj).__name__}")
                if why:
                    bad.append(f"{path}: line {n}: {why}")
                else:
                    rows += 1
    except OSError as exc:
        raise EvalFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if bad:
        more = f"\n... and {len(bad) - _SHOWN} more bad lines" if len(bad) > _SHOWN else ""
        raise EvalFileError("\n".join(bad[:_SHOWN]) + more)
    if not rows:
        raise EvalFileError(f"{path}: no rows (the file is empty); expected one JSON object "
                            f"{shape} per line")
    return rows


def check_suite_files(settings: Any, suites: list[str], split: str = "test") -> None:
    """Every line of every file the chosen suites read is a usable row (an
    :class:`EvalFileError` otherwise), checked before anything is set up."""
    for suite in suites:
        if suite == "routing":
            validate_eval_file(_routing_split(settings, split), suite)
        else:
            validate_eval_file(_pack_file(settings, "retrieval_eval" if suite == "retrieval"
                                          else "tool_choice"), suite)


def load_tool_choice(path: Path) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("tier") not in ("standard", "expert") or not isinstance(row.get("expected"), list):
            raise ValueError(f"{path}:{n}: need 'request', 'tier' (standard|expert), 'expected' [tools]")
        rows.append(row)
    return rows


async def _choose(sy: Switchyard, tier: str, request: str) -> list[str]:
    from langchain_core.messages import HumanMessage, SystemMessage

    from switchyard.agents.prompts import EXPERT_AGENT_SYSTEM, STANDARD_SYSTEM
    from switchyard.tools import ALL_TOOLS, BASIC_TOOLS

    # The agent's first round exactly as the tool loop sends it (minus retrieved passages).
    tools, system = (BASIC_TOOLS, STANDARD_SYSTEM) if tier == "standard" else (ALL_TOOLS, EXPERT_AGENT_SYSTEM)
    model = sy.models.chat_model(tier).bind_tools(tools)
    message = await model.ainvoke([SystemMessage(system), HumanMessage(request)],
                                  config={"run_name": f"eval.tools.{tier}"})
    return [c["name"] for c in getattr(message, "tool_calls", [])]


def eval_tools(sy: Switchyard, path: Path | None = None) -> dict[str, Any]:
    path = path or _pack_file(sy.settings, "tool_choice")
    rows = load_tool_choice(path)

    async def run_all() -> list[list[str]]:
        return [await _choose(sy, r["tier"], r["request"]) for r in rows]

    chosen = asyncio.run(run_all())
    out_rows, per_tier, missed = [], Counter(), Counter()
    totals: Counter[str] = Counter()
    for row, names in zip(rows, chosen, strict=True):
        expected = set(row["expected"])
        hit = bool(expected & set(names))
        first = bool(names) and names[0] in expected
        totals["rows"] += 1
        totals["hit"] += hit
        totals["first"] += first
        totals["no_call"] += not names
        per_tier[(row["tier"], "rows")] += 1
        per_tier[(row["tier"], "hit")] += hit
        if not hit:
            missed[",".join(sorted(expected))] += 1
        out_rows.append({"inputs": {"request": row["request"], "tier": row["tier"]},
                         "reference": {"expected": row["expected"]},
                         "prediction": {"tools": names}, "correct": hit})
    n = totals["rows"] or 1
    return {
        "path": str(path), "n": totals["rows"],
        "hit_rate": round(totals["hit"] / n, 4),
        "first_choice_rate": round(totals["first"] / n, 4),
        "no_call_rate": round(totals["no_call"] / n, 4),
        "by_tier": {t: round(per_tier[(t, "hit")] / per_tier[(t, "rows")], 4)
                    for t in ("standard", "expert") if per_tier[(t, "rows")]},
        "missed_expected": dict(missed.most_common()),
        "rows": out_rows,
    }


def run_suites(sy: Switchyard, suites: list[str], *, split: str = "test", k: int = 4,
               tool_path: Path | None = None) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for suite in suites:
        if suite == "routing":
            results[suite] = eval_routing(sy, split)
        elif suite == "retrieval":
            results[suite] = eval_retrieval(sy, k)
        elif suite == "tools":
            results[suite] = eval_tools(sy, tool_path)
        else:
            raise ValueError(f"unknown suite {suite!r}; choose from {', '.join(SUITES)}")
    return results


# -- LangSmith upload ---------------------------------------------------------------------------
def _example_id(suite: str, inputs: dict[str, Any]) -> str:
    return str(uuid.uuid5(_NAMESPACE, suite + json.dumps(inputs, sort_keys=True)))


def _example_outputs_key() -> str:
    """langsmith 0.15 renamed an example's ``outputs`` to ``reference_outputs`` (the old name is
    deprecated); older SDKs, still allowed, know only ``outputs``."""
    from langsmith import schemas

    return "reference_outputs" if "reference_outputs" in schemas.ExampleCreate.model_fields else "outputs"


def upload(results: dict[str, dict[str, Any]], client: Client, *, prefix: str = "switchyard",
           experiment_tag: str | None = None) -> dict[str, dict[str, Any]]:
    """Each suite -> dataset ``<prefix>-<suite>`` (created or topped up) + one experiment on it."""
    stamp = experiment_tag or datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    outputs_key = _example_outputs_key()
    summary: dict[str, dict[str, Any]] = {}
    for suite, result in results.items():
        rows = result.get("rows") or []
        name = f"{prefix}-{suite}"
        if client.has_dataset(dataset_name=name):
            dataset = client.read_dataset(dataset_name=name)
            existing = {str(e.id) for e in client.list_examples(dataset_id=dataset.id)}
        else:
            dataset = client.create_dataset(name, description=f"switchyard {suite} evaluation set")
            existing = set()
        examples = [{"id": _example_id(suite, r["inputs"]), "inputs": r["inputs"],
                     outputs_key: r["reference"]} for r in rows]
        new = [e for e in examples if e["id"] not in existing]
        if new:
            client.create_examples(dataset_id=dataset.id, examples=new)
        experiment = f"{name}-{stamp}"
        metrics = {k: v for k, v in result.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        project = client.create_project(experiment, reference_dataset_id=dataset.id,
                                        metadata={"suite": suite, **metrics})
        now = datetime.now(UTC)
        run_ids = [uuid.uuid4() for _ in rows]
        for row, example, run_id in zip(rows, examples, run_ids, strict=True):
            client.create_run(name=f"switchyard-eval-{suite}", inputs=row["inputs"], run_type="chain",
                              project_name=experiment, id=run_id, outputs=row["prediction"],
                              reference_example_id=example["id"], start_time=now, end_time=now)
        client.flush()  # the runs exist before the feedback that points at them
        for row, run_id in zip(rows, run_ids, strict=True):
            # With its project: SmithDB-only deployments cannot locate the run without it.
            client.create_feedback(run_id, key="correct", score=1.0 if row["correct"] else 0.0,
                                   session_id=project.id)
        summary[suite] = {"dataset": name, "examples_added": len(new), "experiment": experiment,
                          "runs": len(rows)}
    return summary


# -- report -------------------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def print_report(results: dict[str, dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if "routing" in results:
        r = results["routing"]
        console.print(f"[bold]routing[/] ({r['n']} requests, {r['path']})")
        console.print(f"  tier accuracy {_pct(r['tier_accuracy'])}   high recall {_pct(r['high_recall'])} "
                      f"(n={r['n_high']})   high->fast {_pct(r['high_to_fast_rate'])}   under-routed "
                      f"{_pct(r['under_routing_rate'])}   over-routed {_pct(r['over_routing_rate'])}   "
                      f"complexity {_pct(r['complexity_accuracy'])}   intent {_pct(r['intent_accuracy'])}")
        table = Table(title="routing confusion (rows: expected tier, columns: routed tier)")
        table.add_column("expected")
        tiers = list(r["confusion"])
        for t in tiers:
            table.add_column(t, justify="right")
        for t in tiers:
            table.add_row(t, *(str(r["confusion"][t][p]) for p in tiers))
        console.print(table)
    if "retrieval" in results:
        r = results["retrieval"]
        console.print(f"[bold]retrieval[/] ({r['questions']} questions, k={r['k']}, kb {r['kb_version']})")
        console.print(f"  recall@1 {_pct(r['recall_at_1'])}   recall@{r['k']} {_pct(r['recall_at_k'])}   "
                      f"MRR {r['mrr']:.3f}   misses {len(r['misses'])}")
    if "tools" in results:
        r = results["tools"]
        by_tier = "   ".join(f"{t} {_pct(v)}" for t, v in r["by_tier"].items())
        console.print(f"[bold]tool choice[/] ({r['n']} requests, {r['path']})")
        console.print(f"  expected tool chosen {_pct(r['hit_rate'])}   first call expected "
                      f"{_pct(r['first_choice_rate'])}   no call {_pct(r['no_call_rate'])}   {by_tier}")
        if r["missed_expected"]:
            console.print("  missed: " + ", ".join(f"{k} x{v}" for k, v in r["missed_expected"].items()))


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_cmd(
        suite: Annotated[list[str] | None, typer.Option(
            "--suite", "-s", help="routing, retrieval or tools (repeatable; default: all).")] = None,
        split: Annotated[str, typer.Option(help="Routing split to score (the pack's routing/<split>.jsonl).")] = "test",
        k: Annotated[int, typer.Option(min=1, help="Passages per question for retrieval recall@k.")] = 4,
        as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
        upload_: Annotated[bool, typer.Option(
            "--upload", help="Also upload datasets + an experiment to LangSmith (needs LANGSMITH_API_KEY).")] = False,
        prefix: Annotated[str, typer.Option(help="LangSmith dataset name prefix.")] = "switchyard",
    ) -> None:
        """Score routing, retrieval and tool choice on the domain pack's labelled sets."""
        suites = suite or list(SUITES)
        bad = [s for s in suites if s not in SUITES]
        if bad:
            raise typer.BadParameter(f"unknown suite(s) {', '.join(bad)}; choose from {', '.join(SUITES)}")
        if upload_ and not (os.environ.get("LANGSMITH_API_KEY") or os.environ.get("LANGCHAIN_API_KEY")):
            raise typer.BadParameter("--upload needs LANGSMITH_API_KEY (and network access to LangSmith).")
        from switchyard.app import Switchyard
        from switchyard.core.settings import get_settings

        try:
            check_suite_data(get_settings(), suites, split)
        except EvalDataError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        try:
            check_suite_files(get_settings(), suites, split)
        except EvalFileError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        with Switchyard.open() as sy:
            try:
                results = run_suites(sy, suites, split=split, k=k)
            except EvalDataError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(1) from None
        if as_json:
            typer.echo(json.dumps({s: {k2: v for k2, v in r.items() if k2 != "rows"}
                                   for s, r in results.items()}, default=str))
        else:
            print_report(results)
        if upload_:
            from langsmith import Client

            summary = upload(results, Client(), prefix=prefix)
            for s, info in summary.items():
                typer.echo(f"uploaded {s}: dataset {info['dataset']} (+{info['examples_added']} examples), "
                           f"experiment {info['experiment']} ({info['runs']} runs)")
