"""A domain pack's manifest: each fault gets an error (or a warning) naming the file, the key and
the fix, and a refused pack leaves the active one whole. Also: the bundled Quillstack pack loads
like any other, and a pack tool that raises or returns garbage reaches the agent as ``ERROR:``."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.prebuilt import ToolNode

from switchyard.core import domain
from switchyard.core.pack import PackError, bundled_packs_dir, default_pack_dir, load_pack

TOOLS_MODULE = '''
from langchain_core.tools import tool
from langgraph.prebuilt import ToolRuntime

from switchyard.core.context import Context


@tool
def weather(city: str) -> str:
    """Today's weather in a city."""
    return f"sunny in {city}"


@tool
def my_orders(runtime: ToolRuntime[Context]) -> str:
    """The signed-in customer's orders."""
    return "no orders"


@tool
def orders_of(user_id: str) -> str:
    """Orders of any user (the model would choose whose)."""
    return "no orders"


not_a_tool = 42
'''

MANIFEST = '''
[product]
name = "Testpack"
description = "a pack for manifest tests"
scope = "weather and orders"

[tools.weather]
ref = "{module}:weather"
reads_account = false

[tools.my_orders]
ref = "{module}:my_orders"
reads_account = true

[intents.ask_weather]
tier = "fast"
description = "the weather"

[intents.order_status]
tier = "standard"
personal = true
tools = ["my_orders"]

[intents.out_of_scope]
tier = "any"
'''


def make_pack(root: Path, manifest: str | None = None, *, articles: bool = True,
              module: str = "manifest_test_tools") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(TOOLS_MODULE)
    (root / "articles").mkdir(exist_ok=True)
    if articles:
        (root / "articles" / "weather.md").write_text("# Weather\n\nIt is always sunny.\n")
    (root / "routing").mkdir(exist_ok=True)
    text = (manifest if manifest is not None else MANIFEST).replace("{module}", module)
    (root / "domain.toml").write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def restore_domain():
    """Whatever a test activates, the session's pack is active again afterwards."""
    before = domain.active_pack()
    yield
    domain.activate(before)


def test_the_bundled_quillstack_pack_loads_like_any_other() -> None:
    pack = load_pack(default_pack_dir())
    assert pack.name == "Quillstack" and pack.warnings == ()
    assert pack.root == bundled_packs_dir() / "quillstack"
    assert len(pack.manifest.intents) == 35 and len(pack.manifest.tools) == 12
    assert {"salesforce", "sso"} <= set(pack.guard.entities)
    assert (pack.routing_dir / "test.jsonl").is_file()
    assert len(list(pack.articles_dir.glob("*.md"))) == 52


def test_the_template_pack_loads(tmp_path: Path) -> None:
    pack = load_pack(bundled_packs_dir() / "template")
    assert pack.warnings == ()
    assert set(pack.manifest.tools) == {"service_status", "my_bookings"}
    assert pack.manifest.tools["my_bookings"].reads_account


def test_an_unknown_key_names_the_file_the_key_and_the_fix(tmp_path: Path) -> None:
    root = make_pack(tmp_path / "p", MANIFEST.replace('tier = "standard"',
                                                    'tier = "standard"\npersonnal = true'))
    with pytest.raises(PackError) as err:
        load_pack(root)
    message = str(err.value)
    assert str(root / "domain.toml") in message
    assert "key intents.order_status.personnal" in message
    assert "fix: remove it or fix its spelling" in message


def test_a_bad_tier_names_the_choices(tmp_path: Path) -> None:
    root = make_pack(tmp_path / "p", MANIFEST.replace('tier = "standard"', 'tier = "medium"'))
    with pytest.raises(PackError, match=r"key intents\.order_status\.tier.*fix: use one of: "
                                        r"fast, standard, expert, any"):
        load_pack(root)


def test_an_intent_naming_a_missing_tool_is_refused(tmp_path: Path) -> None:
    root = make_pack(tmp_path / "p", MANIFEST.replace('tools = ["my_orders"]',
                                                    'tools = ["my_orders", "refund_order"]'))
    with pytest.raises(PackError) as err:
        load_pack(root)
    message = str(err.value)
    assert "key intents.order_status.tools" in message and "refund_order" in message
    assert "fix: declare them under [tools.NAME]" in message


@pytest.mark.parametrize(("ref", "expected"), [
    ("no_such_module_for_switchyard:weather", "cannot import module 'no_such_module_for_switchyard'"),
    ("{module}:forecast", "has no attribute 'forecast'"),
    ("{module}:not_a_tool", "is a int, not a LangChain tool"),
    ("{module}:my_orders", "is named 'my_orders'; fix: rename the manifest's [tools.weather]"),
])
def test_a_tool_that_cannot_be_used_is_refused_before_anything_changes(
        tmp_path: Path, restore_domain, ref: str, expected: str) -> None:
    module = f"manifest_tools_{abs(hash(ref)) % 10**8}"
    root = make_pack(tmp_path / "p", MANIFEST.replace('ref = "{module}:weather"',
                                                    f'ref = "{ref}"'), module=module)
    pack = load_pack(root)  # the manifest itself is valid; importing the tool is not
    import switchyard.tools  # noqa: F401 - registers the tool importer with the catalogue

    before = domain.active_pack()
    intents_before = dict(domain.INTENTS)
    with pytest.raises(PackError) as err:
        domain.activate(pack)
    message = str(err.value)
    assert str(root / "domain.toml") in message and "key tools.weather.ref" in message
    assert expected in message and "fix:" in message
    # Nothing half-built: the active pack, its intents and tools are untouched.
    assert domain.active_pack() is before and intents_before == domain.INTENTS
    assert set(switchyard.tools.TOOLS_BY_NAME) == set(before.manifest.tools)


def test_a_tool_whose_caller_the_model_would_choose_is_refused(tmp_path: Path) -> None:
    import switchyard.tools  # noqa: F401 - registers the tool importer with the catalogue

    manifest = MANIFEST.replace("[tools.my_orders]", "[tools.orders_of]").replace(
        '"{module}:my_orders"', '"{module}:orders_of"').replace('["my_orders"]', '["orders_of"]')
    pack = load_pack(make_pack(tmp_path / "p", manifest, module="manifest_tools_identity"))
    with pytest.raises(PackError) as err:
        domain.activate(pack)
    message = str(err.value)
    assert "key tools.orders_of.ref" in message
    assert "the model would choose the parameter(s) ['user_id']" in message
    assert "fix: take the signed-in user from the injected runtime" in message
    # The hint names the typed runtime: a bare ToolRuntime warns on every call with a context.
    assert "`runtime: ToolRuntime[Context]`" in message


def test_an_empty_articles_folder_is_a_warning_then_a_clear_setup_error(tmp_path: Path) -> None:
    root = make_pack(tmp_path / "p", articles=False)
    pack = load_pack(root)
    assert len(pack.warnings) == 1
    assert "key paths.articles" in pack.warnings[0] and "holds no articles" in pack.warnings[0]
    from switchyard.knowledge.ingest import ArticleError, load_articles

    with pytest.raises(ArticleError, match="no articles found in .*paths.articles"):
        load_articles(pack.articles_dir)


def test_a_missing_articles_folder_and_a_missing_manifest_are_errors(tmp_path: Path) -> None:
    root = make_pack(tmp_path / "p")
    shutil.rmtree(root / "articles")
    with pytest.raises(PackError, match=r"key paths\.articles: folder .* does not exist; fix:"):
        load_pack(root)
    with pytest.raises(PackError, match=r"domain\.toml: not found; fix: point --domain"):
        load_pack(tmp_path / "nowhere")


def test_out_of_scope_is_required(tmp_path: Path) -> None:
    root = make_pack(tmp_path / "p", MANIFEST.replace('[intents.out_of_scope]\ntier = "any"', ""))
    with pytest.raises(PackError, match=r"key intents\.out_of_scope: missing; fix: add"):
        load_pack(root)


def test_a_bad_opposite_regex_names_the_group(tmp_path: Path) -> None:
    root = make_pack(tmp_path / "p", MANIFEST + '\n[guard.opposites.toggle]\non = ["enabl(e"]\n')
    with pytest.raises(PackError) as err:
        load_pack(root)
    lines = str(err.value).splitlines()
    assert len(lines) == 2, lines  # the file, then the one problem (no union noise)
    assert lines[1].startswith("  key guard.opposites: toggle.on: 'enabl(e' is not a regular")
    assert lines[1].endswith("fix: correct the value")


async def _run_tool(t) -> ToolMessage:
    """One call of ``t`` through a tool node wrapped as the agents wrap theirs."""
    from langgraph.graph import START, MessagesState, StateGraph

    from switchyard.agents.common import as_tool_error

    async def wrap(request, execute):
        return as_tool_error(await execute(request), request.tool_call["name"])

    node = ToolNode([t], handle_tool_errors=True, awrap_tool_call=wrap)
    graph = StateGraph(MessagesState).add_node("tools", node).add_edge(START, "tools").compile()
    call = AIMessage("", tool_calls=[{"name": t.name, "args": {}, "id": "c1"}])
    out = await graph.ainvoke({"messages": [call]})
    return out["messages"][-1]


async def test_a_pack_tool_that_raises_is_an_error_message_not_a_crash() -> None:
    @tool
    def broken() -> str:
        """A tool with a bug."""
        raise KeyError("orders")

    message = await _run_tool(broken)
    assert message.status == "error"
    assert message.content.startswith("ERROR: the tool 'broken' failed")


@pytest.mark.parametrize("garbage", [None, "", "x" * 25_000])
async def test_a_pack_tool_that_returns_garbage_is_an_error_message(garbage) -> None:
    @tool
    def sloppy() -> str:
        """A tool returning something no agent can use."""
        return garbage  # type: ignore[return-value]

    message = await _run_tool(sloppy)
    assert message.status == "error" and message.content.startswith("ERROR: the tool 'sloppy'")


async def test_a_useful_tool_result_passes_unchanged() -> None:
    @tool
    def fine() -> str:
        """A tool that works."""
        return "all good"

    message = await _run_tool(fine)
    assert message.content == "all good" and message.status != "error"


def test_few_labelled_requests_or_an_intent_without_examples_is_a_setup_warning(
        tmp_path: Path, restore_domain) -> None:
    import json

    import switchyard.tools  # noqa: F401 - registers the tool importer with the catalogue
    from switchyard.app import MIN_LABELLED, labelled_data_warnings

    root = make_pack(tmp_path / "p", module="manifest_tools_labels")
    domain.activate(load_pack(root))
    rows = [{"text": f"weather in town {i}?", "complexity": "low", "intent": "ask_weather"}
            for i in range(MIN_LABELLED)]
    train = root / "routing" / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows[:12]))
    few, missing = labelled_data_warnings(root / "routing")
    assert few.startswith(f"only 12 labelled requests in {train}: the router routes on "
                          "complexity alone")
    assert "order_status, out_of_scope" in missing and "ask_weather" not in missing
    rows += [{"text": "where is my order", "complexity": "medium", "intent": "order_status"},
             {"text": "a poem please", "complexity": "low", "intent": "out_of_scope"}]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert labelled_data_warnings(root / "routing") == []

