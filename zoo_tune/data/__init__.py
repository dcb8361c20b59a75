"""Trial inputs: turn what the user passed to ``fit`` into something every trial can read.

Numpy data is validated on the driver, cast once (floats to float32) and put into the Ray
object store once per ``fit``; trials read it zero-copy. pandas and Spark DataFrames become
the same arrays through Arrow (see :mod:`zoo_tune.data._layout` for the column rules), or, for
Spark frames over the driver budget, Parquet in the experiment's storage (Ray blocks under
RayDP): a table that fits ``node_cache_mb`` is read once per Ray node into the object store
(:mod:`zoo_tune.data._node_cache`), a bigger one is streamed row group by row group
(:mod:`zoo_tune.data._stream`).
Creator functions and torch ``DataLoader`` objects travel as they are and are called or
iterated inside each trial.

Example:
    >>> import numpy as np
    >>> from zoo_tune.data import check_input, prepare_input
    >>> staged = check_input((np.zeros((4, 2)), np.zeros(4)), "data", "torch")
    >>> staged.xs[0].dtype
    dtype('float32')
"""

from zoo_tune.data._arrow import ParquetInput, ParquetTarget, RayBlocksInput, TableInput
from zoo_tune.data._batched import Batched
from zoo_tune.data._cached_table import CachedTable
from zoo_tune.data._frames import load_frames
from zoo_tune.data._inputs import (
    DEFAULT_NODE_CACHE_MB,
    ArrayInput,
    CreatorInput,
    LocalArrays,
    TrialInput,
    check_input,
    describe_input,
    prepare_input,
    sample_rows,
    split_arrays,
)
from zoo_tune.data._layout import DEFAULT_DRIVER_BUDGET_MB, FrameInput, is_frame
from zoo_tune.data._node_cache import cached_table, release_node_caches
from zoo_tune.data._staging import StagedData, check_mib, load_staged, stage_data
from zoo_tune.data._stream import TableStream

__all__ = [
    "DEFAULT_DRIVER_BUDGET_MB",
    "DEFAULT_NODE_CACHE_MB",
    "ArrayInput",
    "Batched",
    "CachedTable",
    "CreatorInput",
    "FrameInput",
    "LocalArrays",
    "ParquetInput",
    "ParquetTarget",
    "RayBlocksInput",
    "StagedData",
    "TableInput",
    "TableStream",
    "cached_table",
    "check_mib",
    "release_node_caches",
    "TrialInput",
    "check_input",
    "describe_input",
    "sample_rows",
    "is_frame",
    "load_frames",
    "load_staged",
    "prepare_input",
    "split_arrays",
    "stage_data",
]
