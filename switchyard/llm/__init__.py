"""Chat models per tier: ``ChatOpenAI`` with a key, the offline model without one."""

from switchyard.llm.factory import TierGate, chat_model_for, tier_gate
from switchyard.llm.offline import OfflineChatModel

__all__ = ["OfflineChatModel", "TierGate", "chat_model_for", "tier_gate"]
