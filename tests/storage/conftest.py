"""HDFS tests: drop fsspec's cached HDFS clients after each test.

fsspec clears its instance cache in every forked child (``os.register_at_fork``), and a
dropped hdfs-native client there waits forever for runtime threads the fork did not copy.
``ray.init`` forks with a ``preexec_fn``: a session whose Ray starts after an HDFS test
cached a client would hang. zoo_tune's own HDFS filesystem is never cached (see
``zoo_tune/storage/_hdfs.py``); these tests use fsspec directly too.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _drop_cached_hdfs_clients():
    yield
    try:
        from hdfs_native.fsspec import HdfsFileSystem
    except ImportError:
        return
    HdfsFileSystem.clear_instance_cache()
