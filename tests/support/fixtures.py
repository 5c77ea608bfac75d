"""Pytest fixtures for the OpenAI contract server (import them into a test module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.openai_server import OpenAIContractServer


@pytest.fixture(scope="module")
def _contract_server() -> Iterator[OpenAIContractServer]:
    server = OpenAIContractServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def openai_server(_contract_server: OpenAIContractServer) -> OpenAIContractServer:
    """A running server (``.base_url``, ``.requests``, ``.count(model)``, ``.script(model, ...)``),
    shared by a module's tests and reset before each."""
    _contract_server.reset()
    return _contract_server


@pytest.fixture
def second_openai_server() -> Iterator[OpenAIContractServer]:
    """Another, independent server (two tiers on two base_urls)."""
    server = OpenAIContractServer().start()
    try:
        yield server
    finally:
        server.stop()
