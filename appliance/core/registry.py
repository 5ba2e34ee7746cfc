"""Registries filled by importing the modules that register into them (subscribers, listeners, tasks):
named by import path so the package holding a registry does not depend on the packages filling it."""

from __future__ import annotations

import importlib
from collections.abc import Sequence


def import_modules(modules: Sequence[str]) -> None:
    """Import each module (a no-op for those already imported, as Python caches them)."""
    for module in modules:
        importlib.import_module(module)
