"""The set of definitions a workspace has, and how feature references resolve against it.

Definitions live in a Python module of the repo (``[features] definitions = "features.py"``).
Loading it runs that file, so it happens only when a command needs the definitions.
A feature reference is ``"view:feature"``, ``"view"`` (all its features) or a view object.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from modelward.errors import InputError, NotFound
from modelward.features.definitions import Entity, FeatureView, OnDemandView, View
from modelward.usercode import load_module_file

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["Catalog", "FeatureRef", "Selection", "load_catalog"]

FeatureRef = str | FeatureView | OnDemandView


@dataclass(frozen=True)
class Selection:
    """The features picked from one view, in the order they were asked for."""

    view: View
    names: tuple[str, ...]


class Catalog:
    """Views and entities by name; the one place references are resolved."""

    def __init__(self, views: Iterable[View], entities: Iterable[Entity] = ()) -> None:
        self.views: dict[str, View] = {}
        self.entities: dict[str, Entity] = {e.name: e for e in entities}
        for view in views:
            self._add(view)

    def _add(self, view: View) -> None:
        known = self.views.get(view.name)
        if known is not None and known is not view:
            if known.definition_hash == view.definition_hash:
                return
            raise InputError(
                f"two different definitions are named {view.name!r}; view names are unique",
                view=view.name,
            )
        self.views[view.name] = view
        if isinstance(view, FeatureView):
            for entity in view.entities:
                self.entities.setdefault(entity.name, entity)
        else:
            for dep in view.inputs:
                self._add(dep)

    def view(self, name: str) -> View:
        try:
            return self.views[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self.views), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            known = ", ".join(sorted(self.views)) or "none are defined"
            raise NotFound(
                f"unknown feature view {name!r}{hint} (known: {known})", view=name
            ) from None

    def select(self, refs: Sequence[FeatureRef]) -> list[Selection]:
        """Resolve references into per-view selections, refusing unknown names."""
        if not refs:
            raise InputError('give at least one feature ("view:feature" or "view")')
        order: list[str] = []
        picked: dict[str, list[str]] = {}
        for ref in refs:
            if isinstance(ref, FeatureView | OnDemandView):
                self._add(ref)
                view, names = ref, list(ref.feature_names)
            elif isinstance(ref, str):
                view_name, _, feat = ref.partition(":")
                try:
                    view = self.view(view_name)
                except NotFound as exc:
                    raise InputError(
                        f"unknown feature {ref!r}: {exc.message}", feature=ref
                    ) from None
                if feat:
                    view.feature(feat)  # raises, naming the view's features
                names = [feat] if feat else list(view.feature_names)
            else:
                raise InputError(f"feature reference {ref!r} is neither a string nor a view")
            if view.name not in picked:
                order.append(view.name)
                picked[view.name] = []
            picked[view.name].extend(n for n in names if n not in picked[view.name])
        return [Selection(self.views[v], tuple(picked[v])) for v in order]


def _load_module(path: Path) -> ModuleType:
    # executed afresh each time: an edited definitions file is seen by the next command
    return load_module_file(
        path, prefix="modelward_user_features_", what="the feature definitions", reuse=False
    )


def catalog_from_module(module: ModuleType) -> Catalog:
    views = [v for v in vars(module).values() if isinstance(v, FeatureView | OnDemandView)]
    entities = [v for v in vars(module).values() if isinstance(v, Entity)]
    return Catalog(views, entities)


def load_catalog(session: Session, path: str | Path | None = None) -> Catalog:
    """The definitions in the workspace's definitions module (or ``path``)."""
    target = Path(path or session.workspace.settings.features.definitions)
    if not target.is_absolute():
        target = session.workspace.root / target
    if not target.is_file():
        raise InputError(
            f"{target}: feature definitions not found; set [features] definitions in "
            "modelward.toml to the Python file that defines them",
            file=str(target),
        )
    return catalog_from_module(_load_module(target))
