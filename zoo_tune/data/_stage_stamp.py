"""When a resumed fit may reuse the Parquet copy its first run staged: the frame's stamp.

A staged frame's stamp is a hash of what decides its rows and how they were written:

* the frame's optimised logical plan as Spark prints it, expression ids taken out (they
  change with every session), which holds its sources, filters, casts and literal seeds;
* every input file Spark lists for it (``DataFrame.inputFiles``) with its size and
  modification time, as its Hadoop file system reports them, so a rewritten source file is a
  change even under the same name;
* the row count, the validation split and its seed, and zoo_tune's staging settings (row
  group and file sizes, whether the rows were shuffled).

A frame whose plan holds rows its text does not show (``createDataFrame`` from local data:
``LocalRelation``; from an RDD: ``LogicalRDD``) has no stamp: it is always staged again. So
is a frame of more than :data:`MAX_FILES` input files (listing them costs more than the copy
saves). A Python UDF whose body changed under the same name is not seen: such a frame should
be staged again with ``resume=False``.

Example:
    >>> stamp = frame_stamp(projected, {"rows": 10})  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

logger = logging.getLogger(__name__)

#: The stamp file of a staged input, next to its Parquet folders: ``_<input>.stamp.json``.
STAMP_SUFFIX = ".stamp.json"
#: Frames reading more files than this are always staged again.
MAX_FILES = 10_000
_UNSEEN_ROWS = ("LocalRelation", "LogicalRDD", "ExistingRDD")


def frame_stamp(frame: Any, settings: dict[str, Any]) -> str | None:
    """The stamp of a Spark DataFrame staged with ``settings``, or ``None`` (never reused)."""
    try:
        plan = str(frame._jdf.queryExecution().optimizedPlan().toString())
    except Exception as err:  # noqa: BLE001 - a plan that cannot be printed: no reuse
        logger.info("No stamp for the staged frame (its plan: %s)", err)
        return None
    if any(word in plan for word in _UNSEEN_ROWS):
        return None
    files = sorted(frame.inputFiles())
    if len(files) > MAX_FILES:
        return None
    session = frame.sparkSession
    jvm, conf = session._jvm, session._jsc.hadoopConfiguration()
    stats = []
    for name in files:
        path = jvm.org.apache.hadoop.fs.Path(name)
        status = path.getFileSystem(conf).getFileStatus(path)
        stats.append([name, int(status.getLen()), int(status.getModificationTime())])
    text = json.dumps([re.sub(r"#\d+L?", "", plan), stats, settings], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _path(folder: str, name: str) -> str:
    return f"{folder.rstrip('/')}/_{name}{STAMP_SUFFIX}"


def _fs(fs: Any) -> Any:
    if fs is not None:
        return fs
    import pyarrow.fs as pafs

    return pafs.LocalFileSystem()


def has_file(fs: Any, path: str) -> bool:
    """Whether ``path`` is a file in ``fs`` (``None``: local)."""
    import pyarrow.fs as pafs

    return _fs(fs).get_file_info(path).type == pafs.FileType.File


def read_stamp(fs: Any, folder: str, name: str) -> str | None:
    """The stamp the staged input ``name`` was written with, or ``None``."""
    try:
        with _fs(fs).open_input_stream(_path(folder, name)) as f:
            return json.loads(f.read().decode("utf-8")).get("stamp")
    except (OSError, ValueError):
        return None


def write_stamp(fs: Any, folder: str, name: str, stamp: str | None) -> None:
    """Record ``stamp`` for the staged input ``name`` (written last: only a complete copy has
    one); ``None`` removes it."""
    path = _path(folder, name)
    fs = _fs(fs)
    if stamp is None:
        try:
            fs.delete_file(path)
        except (OSError, FileNotFoundError):
            pass
        return
    with fs.open_output_stream(path) as f:
        f.write(json.dumps({"stamp": stamp}).encode("utf-8"))
