"""The per-tier limits the bench relies on: concurrency cap and (simulated) API rate limit."""

from __future__ import annotations

import asyncio

from switchyard.core.settings import Settings
from switchyard.llm.factory import ModelFactory, TierGate


def test_simulated_models_carry_the_tiers_rate_limit_and_plain_offline_ones_do_not():
    sim = Settings(offline=True, simulate_latency=True)
    model = ModelFactory(sim).chat_model("expert")
    assert model.rate_limiter is not None
    assert model.rate_limiter.requests_per_second == sim.tier("expert").requests_per_second
    assert ModelFactory(Settings(offline=True)).chat_model("expert").rate_limiter is None


async def test_tier_gate_caps_calls_in_flight():
    gate = TierGate(3)
    state = {"now": 0, "peak": 0}

    async def call() -> None:
        async with gate.semaphore():
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            await asyncio.sleep(0.005)
            state["now"] -= 1

    await asyncio.gather(*(call() for _ in range(20)))
    assert state["peak"] == 3
