"""The graph ``langgraph dev`` and LangGraph Platform serve (``langgraph.json`` points here).

An entry point like the CLI and the HTTP service: it opens the front door for the process's
settings. The graph is compiled at import; its collaborators (encoder, classifier, index, cache)
are built on the first request, off the event loop, so the server starts at once and never
blocks its loop. The server adds persistence (threads) itself.
"""

from switchyard.app import Switchyard

switchyard = Switchyard()
graph = switchyard.deferred_graph()

__all__ = ["graph", "switchyard"]
