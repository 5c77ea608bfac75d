"""Reading LangSmith feedback back when the input or the server is not what it should be: a
clear :class:`LangSmithReadError` each time, never a traceback from inside the SDK. Against the
local LangSmith-protocol stub, over real HTTP (the service round trip is in
tests/service/test_feedback.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from support.langsmith_stub import LangSmithStub

from switchyard.core.langsmith_feedback import (
    FEEDBACK_KEY,
    LangSmithReadError,
    read_langsmith_feedback,
)


@pytest.fixture
def stub() -> Iterator[LangSmithStub]:
    with LangSmithStub(backend="smithdb") as s:
        yield s


def _client(stub: LangSmithStub):  # noqa: ANN202 - langsmith.Client
    from langsmith import Client

    return Client(api_url=stub.url, api_key="stub-key")


def _rate(stub: LangSmithStub, **fields: object) -> None:
    fid = str(uuid.uuid4())
    rid = str(uuid.uuid4())
    stub.feedback[fid] = {"id": fid, "run_id": rid, "trace_id": rid, "key": FEEDBACK_KEY,
                          "score": 1.0, "created_at": "2026-01-01T00:00:00",
                          "modified_at": "2026-01-01T00:00:00", **fields}


def test_no_feedback_reads_nothing_and_asks_for_no_runs(stub: LangSmithStub) -> None:
    assert read_langsmith_feedback("anything", client=_client(stub)) == []
    assert not [p for _, p in stub.requests if "runs" in p or p == "/sessions"]


def test_an_empty_project_name_is_refused_before_any_request(stub: LangSmithStub) -> None:
    with pytest.raises(LangSmithReadError, match="the name is empty"):
        read_langsmith_feedback("  ", client=_client(stub))
    # The langsmith Client asks for /info on a thread of its own when it is made, whenever that
    # thread runs (CI once saw it land first): none of the reader's own requests were sent.
    assert [p for _, p in stub.requests if p != "/info"] == []


@pytest.mark.parametrize("days", [0, -3])
def test_a_window_that_is_not_positive_is_refused(stub: LangSmithStub, days: float) -> None:
    with pytest.raises(LangSmithReadError, match="positive number of days"):
        read_langsmith_feedback("p", since_days=days, client=_client(stub))


def test_an_unknown_project_is_named_and_a_huge_name_is_cut(stub: LangSmithStub) -> None:
    _rate(stub)
    with pytest.raises(LangSmithReadError, match="no project named 'nope'"):
        read_langsmith_feedback("nope", client=_client(stub))
    with pytest.raises(LangSmithReadError) as err:
        read_langsmith_feedback("x" * 5000, client=_client(stub))
    assert "no project named" in str(err.value) and len(str(err.value)) < 300


def test_an_answer_the_sdk_cannot_parse_is_a_clear_error(stub: LangSmithStub) -> None:
    _rate(stub, trace_id=None, id="not-a-uuid")
    with pytest.raises(LangSmithReadError, match="could not read LangSmith at http://127.0.0.1"):
        read_langsmith_feedback("p", client=_client(stub))


def test_one_client_reads_again_over_its_kept_alive_connections() -> None:
    # Each read runs the runs query API on a new event loop (asyncio.run): a client whose pooled
    # connections stayed bound to the first loop would fail the second read ("Event loop is
    # closed"). A notebook or a long-lived process hands the same client in more than once.
    with LangSmithStub(backend="smithdb", keep_alive=True) as stub:
        project = stub.project_id("p")
        rids = [str(uuid.uuid4()) for _ in range(3)]
        for i, rid in enumerate(rids):
            stub.runs[rid] = {"id": rid, "trace_id": rid, "session_id": project, "is_root": True,
                              "name": "switchyard", "run_type": "chain",
                              "start_time": datetime.now(UTC).isoformat(),
                              "inputs": {"messages": [{"type": "human", "content": f"q{i}"}]},
                              "outputs": {}, "extra": {"metadata": {"agent": "fast"}}}
            _rate(stub, run_id=rid, trace_id=rid, session_id=project)
        client = _client(stub)
        for _ in range(3):
            got = read_langsmith_feedback("p", client=client)
            assert sorted(r["run_id"] for r in got) == sorted(rids)

        async def in_a_notebook() -> list[dict[str, object]]:  # this thread runs a loop
            return read_langsmith_feedback("p", client=client)

        assert len(asyncio.run(in_a_notebook())) == 3
        # One query per read: none retried after finding its connection dead.
        runs_queries = [p for _, p in stub.requests if p == "/api/v2/runs/query"]
        assert len(runs_queries) == 4
        assert stub.connections < len(stub.requests)  # connections were kept and reused


def test_an_unreachable_langsmith_is_a_clear_error() -> None:
    from langsmith import Client

    client = Client(api_url="http://127.0.0.1:9", api_key="k",
                    retry_config={"max_retries": 0})  # port 9 (discard): refused
    with pytest.raises(LangSmithReadError, match="could not read LangSmith at http://127.0.0.1:9"):
        read_langsmith_feedback("p", client=client)
