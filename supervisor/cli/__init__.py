"""The ``supervisor`` command: ``run``, ``status``."""

from ._main import main

__all__ = ["main"]
