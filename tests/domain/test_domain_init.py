"""``switchyard init DIR`` writes a pack that works: ``--domain DIR setup`` and ``demo`` run on it
(separate processes, as a person types them), and ``langgraph dev`` started in the folder serves
the pack's graph (its langgraph.json sets SWITCHYARD_DOMAIN=.)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.langgraph_dev import langgraph_dev

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

EXE = str(Path(sys.executable).parent / "switchyard")


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "SWITCHYARD_HOME": str(home), "SWITCHYARD_OFFLINE": "true",
           "LANGSMITH_TRACING": "false", "LANGGRAPH_CLI_NO_ANALYTICS": "1"}
    env.pop("SWITCHYARD_DOMAIN", None)
    env.pop("OPENAI_API_KEY", None)
    return env


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory, switchyard_home: Path) -> tuple[Path, Path]:
    """A pack written by `switchyard init`, set up in a home of its own."""
    base = tmp_path_factory.mktemp("init")
    home = base / "home"
    home.mkdir()
    if (switchyard_home / "models").is_dir():  # reuse the session's exported encoder
        shutil.copytree(switchyard_home / "models", home / "models")
    done = subprocess.run([EXE, "init", "my-pack"], cwd=base, env=_env(home),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "switchyard --domain my-pack setup" in done.stdout
    setup = subprocess.run([EXE, "--domain", "my-pack", "setup"], cwd=base, env=_env(home),
                           capture_output=True, text=True, timeout=600)
    assert setup.returncode == 0, setup.stderr
    assert "3 articles" in setup.stdout and "fitted on 12 labelled requests" in setup.stdout
    assert "domain pack: Larkspur" in setup.stdout
    assert "warning: only 12 labelled requests" in setup.stdout  # a dozen: a clear warning
    return base / "my-pack", home


def _pack_env(home: Path) -> dict[str, str]:
    env = {**_env(home), "LANGCHAIN_TRACING_V2": "false", "HF_HUB_OFFLINE": "1"}
    env.pop("LANGSMITH_API_KEY", None)
    return env


def test_init_writes_a_small_pack_and_refuses_a_folder_in_use(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from switchyard.cli.main import app

    target = tmp_path / "p"
    result = CliRunner().invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    written = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    assert {"domain.toml", "langgraph.json", "larkspur_tools.py", "bookings.json",
            "routing/train.jsonl", "articles/cancel-a-booking.md", "articles/payments.md",
            "articles/studio-hours.txt"} <= written
    assert len((target / "routing" / "train.jsonl").read_text().splitlines()) == 12
    again = CliRunner().invoke(app, ["init", str(target)])
    said = " ".join(again.output.replace("│", " ").split())  # rich wraps it in a box
    assert again.exit_code == 2 and "already exists and is not an empty folder" in said
    # A folder that cannot be written: one clear line, nothing half-written left behind.
    (tmp_path / "a-file").write_text("x")
    under_a_file = CliRunner().invoke(app, ["init", str(tmp_path / "a-file" / "p")])
    said = " ".join(under_a_file.output.replace("│", " ").split())
    assert under_a_file.exit_code == 2 and "cannot write a pack in" in said, said


def test_demo_runs_on_the_pack_with_its_tools_and_sources(pack: tuple[Path, Path]) -> None:
    folder, home = pack
    # A pack tool typed as the docs say gets the context without pydantic's serializer warning
    # (a bare ToolRuntime warns on every call): made an error here, the tool would fail.
    env = {**_env(home), "PYTHONWARNINGS": "error:Pydantic serializer warnings:UserWarning"}
    demo = subprocess.run([EXE, "--domain", str(folder), "demo", "--json"], cwd=folder.parent,
                          env=env, capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stderr
    records = [json.loads(line) for line in demo.stdout.splitlines() if line.startswith("{")]
    assert len(records) == 7  # the pack's [[demo]] requests
    by_text = {}
    for r in records:
        by_text.setdefault(r["classification"]["intent"], []).append(r)
    assert any("help.larkspur.example" in s["url"] for r in records for s in r["sources"])
    mine = by_text["my_bookings"]
    assert mine[0]["tools_used"] == ["my_bookings"] and "Morning yoga" in mine[0]["answer"]
    # The second user's bookings question is theirs, never the first user's cached answer.
    assert mine[1]["cache_hit"] is False and "Evening yoga" in mine[1]["answer"]
    assert "Morning yoga" not in mine[1]["answer"]
    assert all("Quillstack" not in r["answer"] for r in records)


def test_langgraph_dev_in_the_pack_folder_serves_the_pack_s_graph(pack: tuple[Path, Path],
                                                                 tmp_path: Path) -> None:
    from langgraph_sdk import get_client

    folder, home = pack

    async def go(url: str) -> dict:
        client = get_client(url=url)
        thread = await client.threads.create()
        return await client.runs.wait(
            thread["thread_id"], "switchyard",
            input={"messages": [{"role": "user", "content": "What classes have I booked?"}]},
            context={"user_id": "u-0002"})

    # Started in the pack folder: its langgraph.json names the pack.
    with langgraph_dev(folder, _pack_env(home), tmp_path) as url:
        state = asyncio.run(go(url))
    assert "__error__" not in state, state.get("__error__")
    assert state["agent"] == "fast" and "Evening yoga" in state["answer"]
