"""Training data of a YAML job read from a Spark source: files by format and path, or a table.

A job's ``data`` (and ``validation_data``) may name a Spark source instead of a
``module:attribute`` function::

    data:
      format: parquet            # parquet | csv | orc | json
      path: hdfs://127.0.0.1:9000/data/digits.parquet
      options: {header: "true"}  # optional: DataFrameReader.options (csv mostly)
      feature_cols: [pixels]
      label_cols: [label]
    validation_data: {table: db.digits_val}   # columns: data's

:meth:`SparkSource.parse` checks such a mapping before any cluster work; :meth:`SparkSource.read`
reads it with the job's SparkSession.

Example:
    >>> src = SparkSource.parse({"table": "db.digits", "feature_cols": "pixels",
    ...                          "label_cols": ["label"]})
    >>> src.table, src.feature_cols
    ('db.digits', ('pixels',))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zoo_tune.cluster._modes import SPARK_MODES
from zoo_tune.errors import InvalidInputError, did_you_mean

#: Formats a ``path`` source may have (``DataFrameReader.format``).
FORMATS = ("parquet", "csv", "orc", "json")

#: Keys of a source mapping -> what they hold.
SOURCE_KEYS: dict[str, str] = {
    "format": f"file format of `path`, one of {list(FORMATS)}",
    "path": "file or folder to read (local path, hdfs://, s3a://, ...)",
    "options": "DataFrameReader options, name -> scalar (e.g. {header: 'true'})",
    "table": "catalog table name instead of format and path, e.g. db.name",
    "feature_cols": "column name or list of column names: the model's inputs",
    "label_cols": "column name or list of column names: the model's targets",
}

#: Cluster modes that give a job a SparkSession to read a source with.
SOURCE_CLUSTER_MODES = (*SPARK_MODES, "raydp")

#: Builds the error for a key path and a message (``zoo_tune.job`` adds the file and line).
ErrorFactory = Callable[[tuple[str, ...], str], InvalidInputError]


def _plain_error(path: tuple[str, ...], message: str) -> InvalidInputError:
    return InvalidInputError(f"key {'.'.join(path)!r}: {message}")


@dataclass(frozen=True)
class SparkSource:
    """A validated Spark source: files (``format`` and ``path``) or a catalog ``table``.

    Attributes:
        feature_cols: Columns of the model's inputs.
        label_cols: Columns of the model's targets.
        format: File format (one of :data:`FORMATS`); None for a table.
        path: Files to read; None for a table.
        table: Catalog table name; None for files.
        options: ``DataFrameReader`` options, values as strings.

    Example:
        >>> SparkSource.parse({"format": "csv", "path": "/data/d.csv", "options": {
        ...     "header": True}, "feature_cols": ["x"], "label_cols": "y"}).options
        {'header': 'true'}
    """

    feature_cols: tuple[str, ...]
    label_cols: tuple[str, ...]
    format: str | None = None
    path: str | None = None
    table: str | None = None
    options: Mapping[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def parse(cls, value: Any, key: str = "data", *, columns_of: SparkSource | None = None,
              error: ErrorFactory = _plain_error) -> SparkSource:
        """Check a source mapping and build the source.

        Args:
            value: The mapping from the job file.
            key: The job key it came from (``data`` or ``validation_data``), for messages.
            columns_of: The training source: its ``feature_cols`` / ``label_cols`` are the
                default, and given ones must equal them.
            error: Builds the error for a key path and a message.

        Returns:
            The source.

        Raises:
            InvalidInputError: an unknown key, not exactly one of ``path`` / ``table``, a
                missing or unknown ``format``, ``format`` / ``path`` / ``options`` with
                ``table``, malformed ``options`` or columns, columns unlike ``columns_of``'s.

        Example:
            >>> train = SparkSource.parse({"format": "orc", "path": "/d/train.orc",
            ...                            "feature_cols": ["x"], "label_cols": ["y"]})
            >>> SparkSource.parse({"format": "orc", "path": "/d/val.orc"}, "validation_data",
            ...                   columns_of=train).label_cols
            ('y',)
        """
        if not isinstance(value, dict):
            raise error((key,), f"must be a Spark source mapping with keys "
                                f"{list(SOURCE_KEYS)}, got {value!r}")
        for name in value:
            if name not in SOURCE_KEYS:
                hint = did_you_mean(name, SOURCE_KEYS)
                raise error((key, str(name)), f"unknown key of a Spark source. Valid keys: "
                                              f"{list(SOURCE_KEYS)}.{hint}")
        where = [name for name in ("path", "table") if name in value]
        if len(where) != 1:
            got = "both" if where else "neither"
            raise error((key,), f"a Spark source needs exactly one of 'path' (with 'format', one "
                                f"of {list(FORMATS)}) and 'table' (a catalog table), got {got}")
        if where == ["table"]:
            for name in ("format", "path", "options"):
                if name in value:
                    raise error((key, name), "does not go with 'table' (the catalog knows the "
                                             "table's format and files); give 'path' and "
                                             "'format' instead to read files")
            table = _text(value["table"], (key, "table"), error)
            features, labels = _columns(value, key, columns_of, error)
            return cls(features, labels, table=table)
        path = _text(value["path"], (key, "path"), error)
        fmt = _format(value, key, error)
        options = _options(value.get("options"), (key, "options"), error)
        features, labels = _columns(value, key, columns_of, error)
        return cls(features, labels, fmt, path, options=options)

    def read(self, spark: Any) -> Any:
        """Read the source with ``spark`` (``ctx.spark`` of :func:`zoo_tune.init_context`).

        Args:
            spark: A SparkSession.

        Returns:
            The Spark DataFrame (every column of the source).

        Raises:
            InvalidInputError: ``spark`` is None (the cluster mode gave no SparkSession).

        Example:
            >>> df = SparkSource.parse({"format": "parquet", "path": "/data/d.parquet",
            ...     "feature_cols": ["x"], "label_cols": ["y"]}).read(ctx.spark)  # doctest: +SKIP
        """
        if spark is None:
            raise InvalidInputError(f"Reading {self.describe()} needs a SparkSession; the cluster "
                                    f"mode gave none (use one of {list(SOURCE_CLUSTER_MODES)}).")
        if self.table is not None:
            return spark.table(self.table)
        return spark.read.format(self.format).options(**self.options).load(self.path)

    def fit_columns(self) -> dict[str, list[str]]:
        """``feature_cols`` and ``label_cols`` as ``AutoEstimator.fit`` takes them.

        Example:
            >>> SparkSource(("x",), ("y",), table="t").fit_columns()
            {'feature_cols': ['x'], 'label_cols': ['y']}
        """
        return {"feature_cols": list(self.feature_cols), "label_cols": list(self.label_cols)}

    def describe(self) -> str:
        """A short name of the source for messages.

        Example:
            >>> SparkSource(("x",), ("y",), "csv", "/d.csv").describe()
            "csv files at '/d.csv'"
        """
        if self.table is not None:
            return f"table {self.table!r}"
        return f"{self.format} files at {self.path!r}"


def check_cluster_mode(cluster_mode: Any, error: ErrorFactory = _plain_error) -> None:
    """Refuse a cluster mode without a SparkSession to read a source with.

    Args:
        cluster_mode: The job's ``cluster.cluster_mode``; None: not given (``local``).
        error: Builds the error for a key path and a message.

    Raises:
        InvalidInputError: ``cluster_mode`` is not one of :data:`SOURCE_CLUSTER_MODES`.

    Example:
        >>> check_cluster_mode("yarn-client")
    """
    if cluster_mode not in SOURCE_CLUSTER_MODES:
        mode = "'local' (the default)" if cluster_mode is None else repr(cluster_mode)
        raise error(("cluster", "cluster_mode"),
                    f"data from a Spark source needs a SparkSession, which cluster_mode={mode} "
                    f"does not start; use one of {list(SOURCE_CLUSTER_MODES)}")


def _text(value: Any, path: tuple[str, ...], error: ErrorFactory) -> str:
    if not isinstance(value, str) or not value.strip():
        raise error(path, f"must be a non-empty string, got {value!r}")
    return value


def _format(value: dict[str, Any], key: str, error: ErrorFactory) -> str:
    if "format" not in value:
        raise error((key,), f"'path' needs 'format', one of {list(FORMATS)}")
    fmt = value["format"]
    if not isinstance(fmt, str) or fmt.lower() not in FORMATS:
        raise error((key, "format"), f"unknown format {fmt!r}. Valid choices: {list(FORMATS)}."
                                     f"{did_you_mean(fmt, FORMATS)}")
    return fmt.lower()


def _options(value: Any, path: tuple[str, ...], error: ErrorFactory) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise error(path, f"must be a mapping of option name -> scalar, got {value!r}")
    options = {}
    for name, item in value.items():
        if not isinstance(name, str):
            raise error(path, f"option names must be strings, got {name!r}")
        if isinstance(item, bool):
            options[name] = "true" if item else "false"
        elif isinstance(item, (str, int, float)):
            options[name] = str(item)
        else:
            raise error((*path, name), f"must be a scalar (string, number or boolean), "
                                       f"got {item!r}")
    return options


def _column_list(value: Any, path: tuple[str, ...], error: ErrorFactory) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if (not isinstance(names, list) or not names
            or not all(isinstance(n, str) and n for n in names)):
        raise error(path, f"must be a column name or a non-empty list of column names, "
                          f"got {value!r}")
    return tuple(names)


def _columns(value: dict[str, Any], key: str, columns_of: SparkSource | None,
             error: ErrorFactory) -> tuple[tuple[str, ...], tuple[str, ...]]:
    found = []
    for name in ("feature_cols", "label_cols"):
        default = None if columns_of is None else getattr(columns_of, name)
        if name not in value:
            if default is None:
                raise error((key,), f"a Spark source needs {name!r} ({SOURCE_KEYS[name]})")
            found.append(default)
            continue
        cols = _column_list(value[name], (key, name), error)
        if default is not None and cols != default:
            raise error((key, name), f"must equal data.{name} {list(default)} (or be left "
                                     f"out), got {list(cols)}")
        found.append(cols)
    return found[0], found[1]
