"""The ``switchyard`` command line: ``main.app`` (typer) and one module per command group in
``commands/``."""
