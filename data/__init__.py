"""Bundled data sets: routing examples (``routing/``), labelled cache pairs, sample traffic and
tool-choice cases. Installed as ``switchyard.data`` and found with ``importlib.resources``."""
