"""App modules: one module per Phoenix app, each exposing ``APP: AppModule``.

Adding an app is adding a module here; ``discover_apps`` finds it, nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil

from src.domain.catalogue import AppModule, Catalogue


def discover_apps() -> list[AppModule]:
    """Every ``APP`` declared by a module of this package, in module-name order."""
    apps: list[AppModule] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        app = getattr(module, "APP", None)
        if isinstance(app, AppModule):
            apps.append(app)
    return apps


def default_catalogue() -> Catalogue:
    return Catalogue(discover_apps())
