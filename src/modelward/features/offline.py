"""Point-in-time correct training sets, joined by DuckDB (ASOF JOIN), streaming.

For each spine row (entity keys + an event time ``t``) and each feature view, the value is
taken from the view's row with the same keys and the greatest event time ``<= t``; rows
sharing that event time are decided by the greatest created time. When ``t`` minus that
event time exceeds the view's TTL the features are null. Rows with no such row get nulls:
every spine row comes back exactly once, in the spine's order. On-demand features are
computed after the join, batch by batch, by the same function the online lookup calls.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from modelward.data import connect, quote_ident, quote_literal
from modelward.errors import InputError, StorageError
from modelward.features.catalog import Catalog, FeatureRef, Selection, load_catalog
from modelward.features.definitions import ARROW_TYPES, FeatureView, OnDemandView
from modelward.features.sources import (
    EVENT_TS,
    ResolvedSource,
    check_source,
    resolve_view_source,
    source_columns,
    view_relation,
)
from modelward.features.transforms import apply_on_demand
from modelward.lineage import DatasetUse, FeatureViewUse, note_dataset, note_feature_view

if TYPE_CHECKING:
    from modelward.config import DataSettings
    from modelward.session import Session

__all__ = ["TrainingSet", "resolve_inputs", "training_set"]

_ROW = "__mw_row"
_BATCH_ROWS = 65_536


@dataclass(frozen=True)
class _Output:
    """One output column of the join: where it comes from and what it is called."""

    view: str
    feature: str
    column: str
    hidden: bool


def _spine_table(entity_df: Any) -> pa.Table | str:
    if isinstance(entity_df, pa.Table):
        return entity_df
    if isinstance(entity_df, str | Path):
        path = Path(entity_df)
        if not path.is_file():
            raise InputError(f"spine {path}: file not found", file=str(path))
        return str(path.resolve())
    if hasattr(entity_df, "to_arrow") and not hasattr(entity_df, "to_pandas_dataframe"):
        table = entity_df.to_arrow()  # polars
        if isinstance(table, pa.Table):
            return table
    if hasattr(entity_df, "columns") and hasattr(entity_df, "dtypes"):
        with warnings.catch_warnings():
            # pyarrow's converter reads Series.values, which pandas >= 3.1 deprecates for
            # tz-aware columns; the conversion itself is right, the warning is theirs
            warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
            return pa.Table.from_pandas(entity_df, preserve_index=False)
    raise InputError(
        f"spine of type {type(entity_df).__name__} is not supported; give a pyarrow Table, "
        "a pandas or polars DataFrame, or a Parquet file path"
    )


def _check_spine_schema(schema: pa.Schema, ts: str, keys: Sequence[str]) -> None:
    if ts not in schema.names:
        raise InputError(
            f"spine has no timestamp column {ts!r} (columns: {', '.join(schema.names)}); "
            "pass timestamp_column= to name it",
            column=ts,
        )
    ts_type = schema.field(ts).type
    if not pa.types.is_timestamp(ts_type):
        raise InputError(
            f"spine column {ts!r} is {ts_type}, not a timestamp; give timezone-aware times",
            column=ts,
        )
    if ts_type.tz is None:
        raise InputError(
            f"spine column {ts!r} holds naive timestamps; point-in-time joins need "
            "timezone-aware times (e.g. tz_localize('UTC') in pandas)",
            column=ts,
        )
    missing = [k for k in keys if k not in schema.names]
    if missing:
        raise InputError(
            f"spine lacks entity key column(s) {', '.join(missing)} "
            f"(columns: {', '.join(schema.names)})",
            column=missing[0],
        )
    if _ROW in schema.names:
        raise InputError(f"spine column name {_ROW!r} is reserved", column=_ROW)


def _first_row(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...] | None:
    rows = con.execute(sql).fetchall()
    return rows[0] if rows else None


class TrainingSet:
    """A lazily run point-in-time join. Read it with :meth:`to_arrow`, :meth:`batches`,
    :meth:`to_pandas` or :meth:`to_parquet`; :attr:`lineage` says what it was built from."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        sql: str,
        outputs: list[_Output],
        on_demand: list[tuple[OnDemandView, dict[str, str]]],
        keys: tuple[str, ...],
        lineage: tuple[FeatureViewUse, ...],
        datasets: tuple[DatasetUse, ...],
    ) -> None:
        self._con = con
        self.sql = sql
        self._outputs = outputs
        self._on_demand = on_demand
        self._keys = keys
        self.lineage = lineage
        self.datasets = datasets

    @property
    def feature_columns(self) -> list[str]:
        return [o.column for o in self._outputs if not o.hidden]

    def lineage_dict(self) -> dict[str, Any]:
        return {
            "feature_views": [
                {**vars(u), "source_hashes": list(u.source_hashes)} for u in self.lineage
            ],
            "datasets": [vars(d) for d in self.datasets],
        }

    def batches(self, rows: int = _BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """The result in spine order, ``rows`` at a time, without holding it all."""
        reader = self._con.sql(self.sql).to_arrow_reader(rows)
        offset = 0
        for batch in reader:
            yield self._finish(batch, offset)
            offset += batch.num_rows
        if offset == 0:
            # an empty result streams no batch at all: one empty batch carries the columns
            yield self._finish(pa.RecordBatch.from_pylist([], schema=reader.schema), 0)

    def _finish(self, batch: pa.RecordBatch, offset: int) -> pa.RecordBatch:
        if not self._on_demand:
            return batch
        table = pa.Table.from_batches([batch])
        for view, inputs in self._on_demand:
            # entity keys ride along so a failing row can be named by its keys
            columns = {k: table.column(k) for k in self._keys if k in table.column_names}
            # request fields are cast to their declared types, as the online lookup does
            declared = {f.name: ARROW_TYPES[f.dtype] for f in view.request}
            for plain, col in inputs.items():
                arr = table.column(col)
                columns[plain] = arr.cast(declared[plain]) if plain in declared else arr
            frame = pa.table(columns)
            values = (
                apply_on_demand(view, frame, keys=self._keys, row_offset=offset)
                if frame.num_rows
                # no row to compute: the function is not asked to handle an empty table
                else {f.name: pa.array([], ARROW_TYPES[f.dtype]) for f in view.outputs}
            )
            for out in self._outputs:
                if out.view == view.name:
                    table = table.append_column(out.column, values[out.feature])
        hidden = [o.column for o in self._outputs if o.hidden]
        table = table.drop_columns([c for c in hidden if c in table.column_names])
        return table.combine_chunks().to_batches()[0] if table.num_rows else _empty(table)

    def to_arrow(self) -> pa.Table:
        if not self._on_demand:
            return self._con.sql(self.sql).to_arrow_table()
        return pa.Table.from_batches(list(self.batches()))

    def to_pandas(self) -> Any:
        return self.to_arrow().to_pandas()

    def to_parquet(self, path: str | Path) -> Path:
        """Stream the result into a Parquet file (written to a temporary name, then renamed)."""
        final = Path(path).resolve()
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        try:
            if not self._on_demand:
                self._con.execute(
                    f"COPY ({self.sql}) TO {quote_literal(str(tmp))} (FORMAT parquet)"
                ).fetchall()
            else:
                writer: pq.ParquetWriter | None = None
                try:
                    for batch in self.batches():
                        if writer is None:
                            writer = pq.ParquetWriter(str(tmp), batch.schema)
                        writer.write_batch(batch)
                finally:
                    if writer is not None:
                        writer.close()
            os.replace(tmp, final)
        except OSError as exc:
            raise StorageError(f"{final}: cannot write the training set: {exc}") from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        return final

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> TrainingSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _empty(table: pa.Table) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=table.schema)


def _batch_views(selections: list[Selection]) -> list[FeatureView]:
    """Every batch view the join needs: selected ones and the inputs of on-demand ones."""
    views: dict[str, FeatureView] = {}
    for sel in selections:
        deps = [sel.view] if isinstance(sel.view, FeatureView) else list(sel.view.inputs)
        for view in deps:
            views.setdefault(view.name, view)
    return list(views.values())


def _plan_outputs(
    selections: list[Selection], spine_columns: Sequence[str], full_names: bool
) -> list[_Output]:
    outputs: list[_Output] = []
    taken: dict[str, str] = {c: "the spine" for c in spine_columns}
    for sel in selections:
        for feat in sel.names:
            column = f"{sel.view.name}__{feat}" if full_names else feat
            if column in taken:
                raise InputError(
                    f"output column {column!r} of {sel.view.name}:{feat} clashes with "
                    f"{taken[column]}; pass full_names=True to name columns view__feature",
                    column=column,
                )
            taken[column] = f"{sel.view.name}:{feat}"
            outputs.append(_Output(sel.view.name, feat, column, hidden=False))
    # inputs of on-demand views that were not asked for travel as hidden columns
    for sel in selections:
        if isinstance(sel.view, OnDemandView):
            for dep in sel.view.inputs:
                for feat in dep.feature_names:
                    if not any(o.view == dep.name and o.feature == feat for o in outputs):
                        outputs.append(
                            _Output(dep.name, feat, f"__mw_in__{dep.name}__{feat}", hidden=True)
                        )
    return outputs


def build_join_sql(
    spine_from: str,
    ts: str,
    views: list[tuple[FeatureView, ResolvedSource]],
    outputs: list[_Output],
) -> str:
    """The ASOF join: one CTE per view, one ASOF LEFT JOIN each, in spine order."""
    ctes = [f"spine AS ({spine_from})"]
    joins: list[str] = []
    selects: list[str] = []
    s_ts = f"s.{quote_ident(ts)}"
    for i, (view, source) in enumerate(views):
        alias = f"v{i}"
        ctes.append(f"{alias} AS ({view_relation(view, source)})")
        on = " AND ".join(f"s.{quote_ident(k)} = {alias}.{quote_ident(k)}" for k in view.join_keys)
        joins.append(f"ASOF LEFT JOIN {alias} ON {on} AND {s_ts} >= {alias}.{EVENT_TS}")
        for out in outputs:
            if out.view != view.name:
                continue
            value = f"{alias}.{quote_ident(out.feature)}"
            if view.ttl is not None:
                ttl_us = int(view.ttl.total_seconds() * 1_000_000)
                value = (
                    f"CASE WHEN epoch_us({s_ts}) - epoch_us({alias}.{EVENT_TS}) <= {ttl_us} "
                    f"THEN {value} END"
                )
            selects.append(f"{value} AS {quote_ident(out.column)}")
    body = ", ".join(["s.* EXCLUDE (" + _ROW + ")", *selects])
    return f"WITH {', '.join(ctes)} SELECT {body} FROM spine s {' '.join(joins)} ORDER BY s.{_ROW}"


def _register_spine(con: duckdb.DuckDBPyConnection, spine: pa.Table | str) -> tuple[str, pa.Schema]:
    if isinstance(spine, str):
        schema = pq.read_schema(spine)
        # the file's own row numbers keep the spine order without reading it into memory
        return (
            f"SELECT * EXCLUDE (file_row_number), file_row_number AS {_ROW} "
            f"FROM read_parquet({quote_literal(spine)}, file_row_number = true)",
            schema,
        )
    numbered = spine.append_column(_ROW, pa.array(range(spine.num_rows), pa.int64()))
    con.register("__mw_spine", numbered)
    return "SELECT * FROM __mw_spine", spine.schema


def _ts_nulls(spine: pa.Table | str, ts: str) -> int:
    """Nulls in the spine's time column, from Arrow or Parquet metadata (no scan)."""
    if isinstance(spine, pa.Table):
        return int(spine.column(ts).null_count)
    meta = pq.read_metadata(spine)
    index = meta.schema.names.index(ts)
    total = 0
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(index).statistics
        if stats is None or not stats.has_null_count:
            return -1  # unknown: let the query decide
        total += stats.null_count
    return total


def _check_spine_rows(
    con: duckdb.DuckDBPyConnection,
    spine: pa.Table | str,
    spine_from: str,
    ts: str,
    keys: Sequence[str],
    allow_duplicates: bool,
) -> None:
    q_ts = quote_ident(ts)
    if _ts_nulls(spine, ts) != 0:
        null_row = _first_row(
            con, f"SELECT {_ROW} FROM ({spine_from}) WHERE {q_ts} IS NULL ORDER BY 1 LIMIT 1"
        )
        if null_row is not None:
            raise InputError(
                f"spine row {null_row[0]} has no timestamp in {ts!r}; every row needs one",
                column=ts,
                row=int(null_row[0]),
            )
    if allow_duplicates:
        return
    cols = ", ".join(quote_ident(c) for c in (*keys, ts))
    # the cheap question first (no row numbers to carry); the rows are named only if needed
    if _first_row(con, f"SELECT 1 FROM ({spine_from}) GROUP BY {cols} HAVING count(*) > 1 LIMIT 1"):
        dup = _first_row(
            con,
            f"SELECT min({_ROW}), max({_ROW}), count(*) FROM ({spine_from}) GROUP BY {cols} "
            "HAVING count(*) > 1 ORDER BY 1 LIMIT 1",
        )
        assert dup is not None
        raise InputError(
            f"spine rows {dup[0]} and {dup[1]} (of {dup[2]}) have the same entity keys and "
            f"{ts!r}; they would get the same features: drop duplicates, or pass "
            "allow_duplicates=True",
            row=int(dup[0]),
        )


def training_set(
    entity_df: Any,
    features: Sequence[FeatureRef],
    *,
    session: Session | None = None,
    catalog: Catalog | None = None,
    timestamp_column: str = "event_timestamp",
    full_names: bool = False,
    allow_duplicates: bool = False,
    settings: DataSettings | None = None,
    snapshots: Mapping[str, str] | None = None,
) -> TrainingSet:
    """Point-in-time join of ``features`` onto the spine ``entity_df``.

    ``features`` are ``"view:feature"``, ``"view"`` or view objects; strings resolve against
    ``catalog`` or else the workspace's definitions module. The spine needs the entity key
    columns and a timezone-aware ``timestamp_column``. Building the set notes the views in
    the active lineage collector, so a model registered in the same run records them.
    ``snapshots`` pins name-only snapshot sources (``{"activity": "activity@3"}``): without
    it ``SnapshotSource("activity")`` reads the latest snapshot at the time of the join.

    Example::

        ts = mw.features.training_set(spine, ["driver_stats:trips", trip_density])
        table = ts.to_arrow()
    """
    if catalog is None:
        if session is None and any(isinstance(f, str) for f in features):
            from modelward.session import resolve_session

            session = resolve_session(session)
        catalog = (
            load_catalog(session)
            if session is not None and any(isinstance(f, str) for f in features)
            else Catalog([])
        )
    selections = catalog.select(list(features))
    views = _batch_views(selections)
    keys: list[str] = []
    for view in views:
        keys.extend(k for k in view.join_keys if k not in keys)
    request = [
        f.name for s in selections if isinstance(s.view, OnDemandView) for f in s.view.request
    ]
    settings = settings or (session.workspace.settings.data if session is not None else None)
    con = connect(settings)
    try:
        spine = _spine_table(entity_df)
        spine_from, schema = _register_spine(con, spine)
        _check_spine_schema(schema, timestamp_column, keys)
        missing = [r for r in request if r not in schema.names]
        if missing:
            raise InputError(
                f"on-demand request field(s) {', '.join(missing)} must be spine columns",
                column=missing[0],
            )
        _check_spine_rows(con, spine, spine_from, timestamp_column, keys, allow_duplicates)
        resolved: list[tuple[FeatureView, ResolvedSource]] = []
        for view in views:
            source = resolve_view_source(view, session, snapshots)
            check_source(view, source_columns(con, source, view.name), source)
            resolved.append((view, source))
        outputs = _plan_outputs(selections, schema.names, full_names)
        on_demand = [
            (sel.view, _inputs_of(sel.view, outputs, schema.names))
            for sel in selections
            if isinstance(sel.view, OnDemandView)
        ]
        # on-demand outputs are appended in Python after the join, not selected in SQL
        computed = {v.name for v, _ in on_demand}
        sql = build_join_sql(
            spine_from, timestamp_column, resolved, [o for o in outputs if o.view not in computed]
        )
        lineage, datasets = _lineage(selections, {v.name: src for v, src in resolved})
    except BaseException:
        con.close()
        raise
    for use in lineage:
        note_feature_view(use)
    for ds in datasets:
        note_dataset(ds)
    return TrainingSet(con, sql, outputs, on_demand, tuple(keys), lineage, datasets)


def _inputs_of(
    view: OnDemandView, outputs: list[_Output], spine_columns: Sequence[str]
) -> dict[str, str]:
    """Plain input name -> result column, for the on-demand function's table."""
    inputs: dict[str, str] = {}
    for dep in view.inputs:
        for feat in dep.feature_names:
            out = next(o for o in outputs if o.view == dep.name and o.feature == feat)
            inputs[feat] = out.column
    for field in view.request:
        if field.name in spine_columns:
            inputs[field.name] = field.name
    return inputs


def _lineage(
    selections: list[Selection],
    sources: dict[str, ResolvedSource],
) -> tuple[tuple[FeatureViewUse, ...], tuple[DatasetUse, ...]]:
    uses: dict[str, FeatureViewUse] = {}
    datasets: dict[str, DatasetUse] = {}
    for sel in selections:
        deps = [sel.view] if isinstance(sel.view, FeatureView) else list(sel.view.inputs)
        hashes = tuple(h for d in deps if (h := sources[d.name].content_hash) is not None)
        uses[sel.view.name] = FeatureViewUse(sel.view.name, sel.view.definition_hash, hashes)
        for dep in deps:
            src = sources[dep.name]
            uses.setdefault(
                dep.name,
                FeatureViewUse(
                    dep.name, dep.definition_hash, (src.content_hash,) if src.content_hash else ()
                ),
            )
            if src.snapshot_id and src.content_hash:
                name, _, version = src.label.removeprefix("snapshot:").partition("@")
                datasets[src.snapshot_id] = DatasetUse(
                    src.snapshot_id, name, int(version or 0), src.content_hash
                )
    return tuple(uses.values()), tuple(datasets.values())


def resolve_inputs(
    features: Sequence[FeatureRef],
    *,
    session: Session,
    snapshots: Mapping[str, str] | None = None,
    catalog: Catalog | None = None,
) -> dict[str, Any]:
    """What a training set on ``features`` reads, resolved now, as JSON.

    ``{"views": {name: {"definition_hash", "source", "content_hash", "snapshot_id"}},
    "snapshots": {snapshot name: snapshot id}}``: a pipeline records this once at its start
    and passes ``snapshots`` back to :func:`training_set`, so every later step reads the
    same bytes even if someone takes a newer snapshot meanwhile. ``snapshots`` given here
    pins names first (the snapshots the run itself just took).
    """
    catalog = catalog or load_catalog(session)
    selections = catalog.select(list(features))
    views: dict[str, dict[str, Any]] = {
        sel.view.name: {"definition_hash": sel.view.definition_hash} for sel in selections
    }
    pins: dict[str, str] = {}
    for view in _batch_views(selections):
        source = resolve_view_source(view, session, snapshots)
        views.setdefault(view.name, {"definition_hash": view.definition_hash})
        views[view.name] |= {
            "source": source.label,
            "content_hash": source.content_hash,
            "snapshot_id": source.snapshot_id,
        }
        ref = view.source_descriptor.get("ref")
        if source.snapshot_id is not None and ref is not None and "@" not in ref:
            pins[ref] = source.snapshot_id
    return {"views": views, "snapshots": pins}
