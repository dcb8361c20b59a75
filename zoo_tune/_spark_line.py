"""Which Spark line this process runs (3.5 or 4.x), and what a line or a session cannot do.

zoo_tune runs on Spark 3.5 and 4.x (``pyspark>=3.5,<5``). Two things are refused before any
cluster work: ``cluster_mode="raydp"`` on Spark 4 (RayDP 1.6.5, its newest release, is built
for Spark 3.5 only), and Spark Connect sessions and DataFrames (``pyspark.sql.connect``): Ray
on Spark starts its nodes with tasks of a SparkContext, and reading a frame into trials needs
its executors, neither of which a Connect client has. A leaf module: the cluster launchers and
the data inputs both import it.

Example:
    >>> from zoo_tune._spark_line import spark_major
    >>> spark_major("4.3.0"), spark_major("3.5.7")
    (4, 3)
"""

from __future__ import annotations

from typing import Any

from zoo_tune.errors import InvalidInputError

#: The Ray on Spark modes, which run on both Spark lines (RayDP's does not).
RAY_ON_SPARK_MODES = ("local-cluster", "standalone", "spark-submit", "yarn-client",
                      "yarn-cluster")


def spark_major(version: str) -> int:
    """The major version of a Spark version string (``"4.3.0"`` -> 4)."""
    return int(version.split(".", 1)[0])


def installed_spark() -> str | None:
    """The version of the pyspark this process imports, or None without pyspark."""
    try:
        import pyspark
    except ImportError:
        return None
    return str(pyspark.__version__)


def check_raydp_line(version: str | None = None) -> None:
    """Refuse ``cluster_mode="raydp"`` on Spark 4 (RayDP has no Spark 4 release).

    Args:
        version: The Spark version to check (default: the installed pyspark's); nothing is
            checked without pyspark (the RayDP launcher then says what to install).

    Raises:
        InvalidInputError: the Spark line is 4 or newer.

    Example:
        >>> check_raydp_line("3.5.7")  # RayDP's line: nothing to say
    """
    version = installed_spark() if version is None else version
    if version is None or spark_major(version) < 4:
        return
    raise InvalidInputError(
        f"cluster_mode='raydp' needs Spark 3.5 (RayDP 1.6.5, its newest release, is built for "
        f"Spark 3.5 only), but this Python has pyspark {version}. On Spark 4 use a Ray on Spark "
        f"mode {list(RAY_ON_SPARK_MODES)}; for RayDP install zoo_tune[raydp] (which brings "
        f"pyspark 3.5) in an environment of its own.")


def is_connect(obj: Any) -> bool:
    """Whether ``obj`` (a SparkSession or DataFrame) is Spark Connect's (``pyspark.sql.connect``);
    pyspark is not imported to find out."""
    return type(obj).__module__.startswith("pyspark.sql.connect")


def refuse_connect(obj: Any, what: str) -> None:
    """Raise a clear error when ``obj`` is a Spark Connect session or DataFrame.

    Args:
        obj: The session or frame to check.
        what: How the message names it, e.g. ```data``` or "the active SparkSession".

    Raises:
        InvalidInputError: ``obj`` belongs to Spark Connect.

    Example:
        >>> refuse_connect(object(), "`data`")  # not Connect's: nothing to say
    """
    if not is_connect(obj):
        return
    raise InvalidInputError(
        f"{what} is a Spark Connect {type(obj).__name__} (pyspark.sql.connect), which zoo_tune "
        f"cannot use: Ray on Spark starts its nodes with tasks of a SparkContext and trials read "
        f"a DataFrame through its executors, and a Connect client has neither. Use a classic "
        f"session (no `remote`/`spark.remote`/SPARK_CONNECT_MODE_ENABLED; e.g. the one "
        f"init_context gives as ctx.spark, or spark-submit's), or pass a pandas DataFrame "
        f"(df.toPandas()) or numpy arrays.")
