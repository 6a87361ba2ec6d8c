"""The one plugin mechanism: backends of a port, pipeline executors and promotion gates.

A :class:`PluginFamily` maps a config ``type`` to an import path (``"module:attr"``),
imported only when that type is chosen, so a missing optional package breaks only the
type that needs it. Third-party packages add types through the family's entry point
group (``[project.entry-points."modelward.gates"] mygate = "mypkg.gates:factory"``), and
code may add one in process with :meth:`PluginFamily.register`. Every family answers an
unknown type with the same error, :class:`~modelward.errors.UnknownPluginType`, naming
the setting and the known types.

Families (see docs/architecture.md, "Plugins"):

=====================================  ===========================  ======================
family (its setting)                   entry point group            what ``attr`` is
=====================================  ===========================  ======================
``features.online``                    ``modelward.online_stores``  a backend class
``serving.prediction_log``             ``modelward.prediction_sinks``  a backend class
``pipelines.executor``                 ``modelward.executors``      an executor factory
``gate_policy``                        ``modelward.gates``          a gate factory
=====================================  ===========================  ======================

A backend class ``<Tech><Port>`` has a pydantic ``<Tech><Port>Config`` beside it in its
module and a ``from_config(parsed, root)`` constructor (see :func:`open_backend`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelward.errors import ConfigError, UnknownPluginType

__all__ = ["PluginFamily", "open_backend"]


@dataclass
class PluginFamily:
    """The types of one family: built-ins, entry points, and in-process registrations."""

    #: what a member is, in messages ("gate", "executor", "online store")
    kind: str
    #: the config key whose ``type`` picks a member, named in every error message
    setting: str
    #: the entry point group third-party packages use
    group: str
    #: built-in type -> ``"module:attr"``
    builtins: Mapping[str, str]
    _registered: dict[str, Any] = field(default_factory=dict, repr=False)

    def register(self, type_name: str, target: Any) -> None:
        """Make ``type_name`` mean ``target`` in this process (tests, notebooks)."""
        self._registered[type_name] = target

    def _entry_points(self) -> dict[str, importlib.metadata.EntryPoint]:
        return {ep.name: ep for ep in importlib.metadata.entry_points(group=self.group)}

    def types(self) -> list[str]:
        """Every type this family knows, built-in or plugged in."""
        return sorted({*self.builtins, *self._registered, *self._entry_points()})

    def load(self, type_name: str, *, setting: str | None = None) -> Any:
        """The object ``type_name`` names; :class:`UnknownPluginType` when none does.

        ``setting`` overrides the family's setting in messages (``gate_policy.Staging[1]``).
        """
        where = setting or self.setting
        if type_name in self._registered:
            return self._registered[type_name]
        if type_name in self.builtins:
            module_name, _, attr = self.builtins[type_name].partition(":")
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise ConfigError(
                    f"{where}.type {type_name!r} needs a package that is not installed: {exc.name}",
                    field=f"{where}.type",
                ) from None
            return getattr(module, attr)
        found = self._entry_points().get(type_name)
        if found is not None:
            return found.load()
        raise UnknownPluginType(
            f"{where}.type: unknown {self.kind} {type_name!r}; known: {', '.join(self.types())}",
            field=f"{where}.type",
            known=self.types(),
        )


def open_backend(
    config: Mapping[str, Any], family: PluginFamily, root: Path, *, default: str = "sqlite"
) -> Any:
    """Open the backend ``config["type"]`` names, its config parsed by its config class.

    The class is built with ``from_config(parsed, root)``; every message names the setting
    (e.g. ``features.online.path``) so the user knows which key to fix.
    """
    from pydantic import ValidationError

    kind = str(config.get("type", default))
    cls = family.load(kind)
    config_cls = getattr(importlib.import_module(cls.__module__), f"{cls.__name__}Config")
    try:
        parsed = config_cls(**dict(config))
    except ValidationError as exc:
        where = "; ".join(
            f"{family.setting}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(where, field=family.setting) from None
    return cls.from_config(parsed, root)
