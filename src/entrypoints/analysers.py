"""Analysers plugged in without editing the core: named in a setting, or installed.

Two ways, both resolved at start:

- ``EVENT_ANALYSERS=package.module:attr,other.module:attr`` names them explicitly;
- any installed distribution may declare an entry point in the group
  ``phoenix_flywheel.analysers`` (``[project.entry-points."phoenix_flywheel.analysers"]``
  in its ``pyproject.toml``): installing it is enough.

``attr`` is an analyser (an object with ``async def analyse(event)``), or a class or
function called without arguments that returns one. Analysers run in the order found:
entry points (sorted by name), then the setting's list. A spec that cannot be loaded
stops the start with a message naming it, rather than running without the analyser.
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points
from typing import cast

from src.application.ports.analysers import EventAnalyser
from src.domain.errors import FlywheelError

ENTRY_POINT_GROUP = "phoenix_flywheel.analysers"


class AnalyserLoadError(FlywheelError):
    """An analyser named in ``EVENT_ANALYSERS`` or an entry point cannot be loaded."""


def parse_specs(value: str) -> tuple[str, ...]:
    """``"a.b:C, d:e"`` -> ``("a.b:C", "d:e")``; refuses a spec without ``module:attr``."""
    specs = tuple(part.strip() for part in value.split(",") if part.strip())
    for spec in specs:
        module, sep, attr = spec.partition(":")
        if not (sep and module and attr):
            raise ValueError(f"{spec!r} is not module:attribute (e.g. my_package.analysers:Tagger)")
    return specs


def load_analysers(specs: tuple[str, ...], *, installed: bool = True) -> list[EventAnalyser]:
    """The installed analysers (entry points) then those of ``specs``, each built once."""
    return [
        _build(target, origin) for target, origin in resolve_analysers(specs, installed=installed)
    ]


def resolve_analysers(
    specs: tuple[str, ...], *, installed: bool = True
) -> list[tuple[object, str]]:
    """What each analyser is loaded from, imported but not built: a start-up check."""
    targets: list[tuple[object, str]] = []
    if installed:
        for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
            origin = f"entry point {point.name!r} ({point.value}) of {ENTRY_POINT_GROUP}"
            try:
                targets.append((point.load(), origin))
            except Exception as error:  # noqa: BLE001 - plug-in code may raise anything
                raise AnalyserLoadError(
                    f"{origin}: cannot load it ({type(error).__name__}: {error})"
                ) from None
    targets.extend((_resolve(spec), f"EVENT_ANALYSERS {spec!r}") for spec in specs)
    return targets


def _resolve(spec: str) -> object:
    module_name, _, attr_path = spec.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 - plug-in code may raise anything
        raise AnalyserLoadError(
            f"EVENT_ANALYSERS {spec!r}: cannot import {module_name} "
            f"({type(error).__name__}: {error})"
        ) from None
    for name in attr_path.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise AnalyserLoadError(
                f"EVENT_ANALYSERS {spec!r}: {module_name} has no attribute {attr_path}"
            ) from None
    return target


def _build(target: object, origin: str) -> EventAnalyser:
    """An analyser as it is, or built by calling the class or factory without arguments."""
    candidate = target
    if inspect.isclass(target) or not _is_analyser(target):
        if not callable(target):
            raise AnalyserLoadError(f"{origin}: not an analyser, a class or a factory")
        try:
            candidate = target()
        except Exception as error:  # noqa: BLE001 - plug-in code may raise anything
            raise AnalyserLoadError(
                f"{origin}: building it failed ({type(error).__name__}: {error})"
            ) from None
    if not _is_analyser(candidate):
        raise AnalyserLoadError(f"{origin}: has no `async def analyse(self, event)`")
    return cast(EventAnalyser, candidate)  # its ``analyse`` coroutine was checked above


def _is_analyser(value: object) -> bool:
    return inspect.iscoroutinefunction(getattr(value, "analyse", None))
