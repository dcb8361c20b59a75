"""``raydp`` mode: Spark on Ray with RayDP, for teams whose cluster is Ray.

Spark executors run as Ray actors (``raydp.init_spark``); a Spark DataFrame they make moves
into Ray's object store with ``ray.data.from_spark(df)``. RayDP 1.6.5 on Java 17 needs the JDK's
module system opened to Spark in the driver, the executors and RayDP's app master (DESIGN
section 4): without it ``ray.data.from_spark`` kills an actor and then hangs.

Example:
    >>> from zoo_tune import init_context, stop_context
    >>> ctx = init_context(cluster_mode="raydp", cores=1, num_nodes=1)  # doctest: +SKIP
    >>> df = ctx.spark.range(10)  # doctest: +SKIP
    >>> stop_context()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from zoo_tune.errors import MissingDependencyError

logger = logging.getLogger(__name__)

#: Packages of java.base RayDP's Spark reaches into reflectively on Java 17 (DESIGN section 4).
JAVA17_OPEN_PACKAGES = (
    "java.lang", "java.lang.invoke", "java.lang.reflect", "java.io", "java.net", "java.nio",
    "java.util", "java.util.concurrent", "java.util.concurrent.atomic", "sun.nio.ch",
    "sun.nio.cs", "sun.security.action", "sun.util.calendar", "java.math", "java.text",
    "java.time", "java.util.regex", "java.lang.ref",
)

#: The settings that take the options: Spark's driver and executors, RayDP's app master.
JAVA_OPTION_KEYS = ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions",
                    "spark.ray.raydp_app_master.extraJavaOptions")


def java17_options() -> str:
    """The JVM options that open java.base to Spark (ignored by a Java 8 JVM).

    Example:
        >>> java17_options().split()[:2]
        ['-XX:+IgnoreUnrecognizedVMOptions', '--add-opens=java.base/java.lang=ALL-UNNAMED']
    """
    return " ".join(["-XX:+IgnoreUnrecognizedVMOptions",
                     *(f"--add-opens=java.base/{p}=ALL-UNNAMED" for p in JAVA17_OPEN_PACKAGES)])


def raydp_configs(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Spark configs for ``raydp.init_spark``: the Java 17 options first, then ``extra``.

    A user's own ``*.extraJavaOptions`` are appended to zoo_tune's, not replaced.

    Example:
        >>> raydp_configs({"spark.executor.extraJavaOptions": "-Xss4m"})[
        ...     "spark.executor.extraJavaOptions"].endswith(" -Xss4m")
        True
    """
    configs = {key: java17_options() for key in JAVA_OPTION_KEYS}
    configs["spark.ui.showConsoleProgress"] = "false"
    for key, value in (extra or {}).items():
        configs[key] = f"{configs[key]} {value}" if key in JAVA_OPTION_KEYS else str(value)
    return configs


def start(*, app_name: str, num_executors: int, executor_cores: int, executor_memory: str,
          extra: Mapping[str, str] | None = None) -> Any:
    """``raydp.init_spark`` with the Java 17 options; Ray must be connected already.

    Returns:
        The SparkSession (its executors are Ray actors).

    Raises:
        MissingDependencyError: raydp (or pyspark) is not installed.

    Example:
        >>> spark = start(app_name="t", num_executors=1, executor_cores=1,
        ...               executor_memory="1g")  # doctest: +SKIP
    """
    try:
        import raydp
    except ImportError as err:
        raise MissingDependencyError(
            "cluster_mode='raydp' needs raydp: pip install 'zoo_tune[raydp]' (RayDP 1.6.5 "
            "with Spark 3.5).") from err
    configs = raydp_configs(extra)
    logger.info("Starting Spark on Ray (RayDP): %d executor(s) x %d core(s) x %s", num_executors,
                executor_cores, executor_memory)
    # Executors (Java actors) start Python workers from PYSPARK_PYTHON, which pyspark's
    # SparkContext reads in this process: this venv's Python, not whatever python3 is on PATH.
    saved = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = saved or sys.executable
    try:
        return raydp.init_spark(app_name, num_executors, executor_cores, executor_memory,
                                configs=configs)
    finally:
        if saved is None:
            os.environ.pop("PYSPARK_PYTHON", None)


def stop(spark: Any) -> None:
    """``raydp.stop_spark()``, then end the py4j driver JVM pyspark left running.

    Example:
        >>> stop(spark)  # doctest: +SKIP
    """
    import raydp

    from zoo_tune.cluster._spark import _stop_gateway

    try:
        raydp.stop_spark()
    finally:
        if spark is not None:
            _stop_gateway(spark)
