"""The plugin manager and the engine registry built from it.

Built-in behaviour is an ordinary list of plugin modules registered like any third-party plugin;
installed plugins are found through the ``scaivault`` entry-point group. ``SCAIVAULT_LOAD_PLUGINS``
(a comma-separated list of distribution names, or empty for none) restricts which load.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .engine import ENGINE_TYPES, Engine
from .errors import InvalidConfig, PluginNotInstalled

ENTRY_POINT_GROUP = "scaivault"
ALL_OR_OPERATORS = object()  # make_plugin_manager's default: as the operator's load_plugins setting says
DEFAULT_PLUGINS = ("scaivault_core.builtin_plugins.passwords", "scaivault_core.builtin_plugins.stores")


@attrs.define
class PluginInfo:
    name: str
    version: str | None
    engines: list[str] = attrs.field(factory=list)
    error: str | None = None

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> PluginInfo:
        """One plugin as ``GET /v1/sys/plugins`` lists it."""
        return cls(body["name"], body.get("version"), list(body.get("engines") or []), body.get("error"))


class PluginManager(pluggy.PluginManager):
    """pluggy's manager with the core's hooks, and the plugins that failed to load (for ``scaivault plugins``)."""

    def __init__(self) -> None:
        super().__init__(ENTRY_POINT_GROUP)
        self.add_hookspecs(hookspecs)
        self.load_errors: dict[str, str] = {}
        """Distribution name -> why it did not load (the exception's type and text)."""


def make_plugin_manager(
    *,
    load_entrypoints: bool = True,
    plugins: Iterable[object] = (),
    load_plugins: tuple[str, ...] | None | object = ALL_OR_OPERATORS,
) -> PluginManager:
    """A plugin manager with the core's hooks, the default plugins, ``plugins``, and (optionally) entry points:
    those named by ``load_plugins`` (None: all), by default the operator's ``load_plugins`` setting."""
    pm = PluginManager()
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    for plugin in plugins:
        pm.register(plugin)
    if load_entrypoints:
        if load_plugins is ALL_OR_OPERATORS:
            load_plugins = operator_plugins()
        _load_entrypoints(pm, load_plugins)  # type: ignore[arg-type]
    pm.check_pending()
    return pm


def operator_plugins() -> tuple[str, ...] | None:
    """The ``load_plugins`` setting, from the environment or the file named by ``SCAIVAULT_CONFIG``: plugins
    load before a command line (and its ``--config``) is read."""
    from .settings import CONFIG_VARIABLE, read_config_file, read_environment

    config = os.environ.get(CONFIG_VARIABLE)
    values = read_config_file(Path(config)) if config else {}
    values.update(read_environment(os.environ, names=("load_plugins",)))
    return values.get("load_plugins")


def _load_entrypoints(pm: PluginManager, load_plugins: tuple[str, ...] | None) -> None:
    wanted = None if load_plugins is None else set(load_plugins)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else ep.name
        if wanted is not None and dist not in wanted and ep.name not in wanted:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:  # a broken plugin must not stop the others from loading
            pm.load_errors[dist] = f"{type(exc).__name__}: {exc}"


class EngineRegistry:
    """Engine classes by (type, plugin), collected from the ``register_engines`` hook."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._classes: dict[tuple[str, str], type[Engine]] = {}
        self._owner: dict[tuple[str, str], str] = {}
        for impl in pm.hook.register_engines.get_hookimpls():
            owner = impl.plugin_name
            impl.function(register=lambda cls, owner=owner: self._add(cls, owner))

    def _add(self, cls: type[Engine], owner: str) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Engine)):
            raise InvalidConfig(f"Plugin {owner} registered {cls!r}, which is not an Engine subclass.")
        if getattr(cls, "type", None) not in ENGINE_TYPES:
            raise InvalidConfig(
                f"Plugin {owner} registered {cls.__name__} with engine type "
                f"{getattr(cls, 'type', None)!r}; the type must be one of {', '.join(ENGINE_TYPES)}."
            )
        key = (cls.type, cls.plugin)
        if key in self._classes:
            raise InvalidConfig(
                f"Engine type {cls.type}/{cls.plugin} is registered twice: by {self._owner[key]} and {owner}."
            )
        self._classes[key], self._owner[key] = cls, owner

    def get(self, type_: str, plugin: str) -> type[Engine]:
        """The class for an engine config, or a clear error naming what to install."""
        try:
            return self._classes[(type_, plugin)]
        except KeyError:
            known = ", ".join(sorted(f"{t}/{p}" for t, p in self._classes)) or "none"
            raise PluginNotInstalled(
                f"No installed plugin provides engine {type_}/{plugin}. Install the scaivault-{plugin} "
                f"distribution (pip install scaivault-{plugin}). Installed engines: {known}.",
                type=type_,
                plugin=plugin,
            ) from None

    def types(self) -> list[tuple[str, str, str]]:
        return sorted((t, p, self._owner[(t, p)]) for t, p in self._classes)


def plugin_infos(pm: pluggy.PluginManager, registry: EngineRegistry) -> list[PluginInfo]:
    """Installed plugins with their versions, engine types, and load errors."""
    infos: dict[str, PluginInfo] = {}
    dists = {ep.name: ep.dist for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    for type_, plugin, owner in registry.types():
        dist = dists.get(owner)
        name = dist.name if dist else owner
        info = infos.setdefault(name, PluginInfo(name, dist.version if dist else None))
        info.engines.append(f"{type_}/{plugin}")
    for name, error in (pm.load_errors if isinstance(pm, PluginManager) else {}).items():
        infos[name] = PluginInfo(name, _version(name), error=error)
    return sorted(infos.values(), key=lambda i: i.name)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
