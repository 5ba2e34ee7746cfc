"""Registries filled by importing the modules that register into them (subscribers, listeners, tasks):
named by import path so the package holding a registry does not depend on the packages filling it."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence


def import_modules(modules: Sequence[str]) -> None:
    """Import each module not imported yet. Called on hot paths (every event, every delivery): a module
    already in `sys.modules` costs a dictionary look-up, not a trip through the import machinery."""
    for module in modules:
        if module not in sys.modules:
            importlib.import_module(module)
