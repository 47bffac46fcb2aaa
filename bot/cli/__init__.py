"""The command-line edge: ``digestbot`` and ``python -m bot``."""

from bot.cli.main import main

__all__ = ["main"]
