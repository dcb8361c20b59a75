"""``hdfs://`` storage through hdfs-native (a Rust HDFS client: no JVM, no Hadoop CLI).

Chosen over pyarrow's libhdfs because it needs no ``libhdfs.so``, no ``JAVA_HOME`` and no
Hadoop ``CLASSPATH`` on the driver or in YARN containers, it pickles into Ray workers (Ray's
libhdfs route breaks inside them), and it starts in milliseconds. Ray Tune gets it as a
pyarrow filesystem: ``PyFileSystem(FSSpecHandler(fs))``.
"""

from __future__ import annotations

import os
import shutil
import socket
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlparse

from zoo_tune.errors import InvalidInputError, missing_dependency

DEFAULT_PORT = 8020
#: hdfs-native retries an absent NameNode for ~3 minutes by default; fail in seconds.
CLIENT_CONFIG = {"dfs.client.failover.max.attempts": "3"}
CONNECT_TIMEOUT_S = 5.0

try:
    from hdfs_native.fsspec import HdfsFileSystem as _Base
except ImportError:  # pragma: no cover - exercised only without the hdfs extra
    _Base = object


class ZooTuneHdfsFileSystem(_Base):  # type: ignore[misc, valid-type]
    """hdfs-native's fsspec filesystem with pyarrow's copy and move semantics.

    hdfs-native's ``cp_file`` builds an invalid temporary path and its ``mv`` refuses to
    replace an existing file, which pyarrow's ``move`` (used by Ray Tune) expects.

    Not cached by fsspec (``cachable = False``): fsspec clears its instance cache in every
    forked child (``os.register_at_fork``), and dropping a cached hdfs-native client there
    waits forever for its runtime's threads, which a fork does not copy. ``ray.init`` forks
    with a ``preexec_fn``, so a ``fit`` on ``hdfs://`` that starts Ray hung in the child.
    """

    cachable = False

    def __init__(self, host: str | None = None, port: int | None = None, *args: Any,
                 kerberos_principal: str | None = None, kerberos_keytab: str | None = None,
                 **storage_options: Any) -> None:
        # The pair is kept in fsspec's storage options, so a copy unpickled in a Ray worker
        # logs in the same way; in a YARN container the delegation tokens YARN handed it
        # authenticate instead (the keytab stays with the driver).
        super().__init__(host, port, *args, **storage_options)
        if kerberos_principal and kerberos_keytab:
            from hdfs_native import Client

            from zoo_tune.storage._kerberos import TOKEN_FILE_ENV

            if not os.environ.get(TOKEN_FILE_ENV):
                url = f"hdfs://{host}" + (f":{port}" if port else "")
                self.client = Client(url, storage_options, kerberos_principal=kerberos_principal,
                                     kerberos_keytab=kerberos_keytab)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        with self.open(path1, "rb") as src, self.open(path2, "wb") as dst:
            shutil.copyfileobj(src, dst)

    def mv(self, path1: str, path2: str, **kwargs: Any) -> None:
        self.client.rename(self._strip_protocol(path1), self._strip_protocol(path2), True)


def default_fs() -> str | None:
    """``fs.defaultFS`` from ``$HADOOP_CONF_DIR/core-site.xml``, or ``None``."""
    conf = os.environ.get("HADOOP_CONF_DIR")
    if not conf or not os.path.isfile(os.path.join(conf, "core-site.xml")):
        return None
    root = ET.parse(os.path.join(conf, "core-site.xml")).getroot()
    for prop in root.iter("property"):
        if (prop.findtext("name") or "").strip() == "fs.defaultFS":
            return (prop.findtext("value") or "").strip() or None
    return None


def namenode_of(uri: str) -> tuple[str, int, str]:
    """``(host, port, path)`` of an ``hdfs://`` URI; ``hdfs:///p`` uses ``fs.defaultFS``.

    Raises:
        InvalidInputError: ``hdfs:///path`` and no ``fs.defaultFS`` is known.
    """
    parsed = urlparse(uri)
    host, port = parsed.hostname, parsed.port
    if not host:
        default = default_fs()
        if not default:
            raise InvalidInputError(
                f"{uri!r} names no NameNode and no fs.defaultFS is known: set HADOOP_CONF_DIR "
                f"to the folder whose core-site.xml sets fs.defaultFS (hdfs://namenode:8020), "
                f"or write the NameNode into the URI: hdfs://namenode:8020{parsed.path}.")
        default_parsed = urlparse(default)
        host, port = default_parsed.hostname, default_parsed.port
    return host or "localhost", port or DEFAULT_PORT, parsed.path or "/"


def _bounded_handler_class() -> type:
    import pyarrow.fs
    from pyarrow import PythonFile

    from zoo_tune.storage._bounded import Bounded, BoundedFile
    from zoo_tune.storage._upload import StagedUpload

    class BoundedHandler(pyarrow.fs.FSSpecHandler):
        """pyarrow's fsspec handler with every call bounded (:mod:`._bounded`)."""

        def __init__(self, fs: Any, uri: str) -> None:
            super().__init__(fs)
            self.uri = uri
            self.calls = Bounded(uri)

        def __reduce__(self) -> tuple[Any, ...]:
            return (_make_handler, (self.fs, self.uri))

        def _open(self, path: str, mode: str) -> Any:
            if mode == "rb" and not self.calls.call(f"info {path}", self.fs.isfile, path):
                raise FileNotFoundError(path)
            raw = self.calls.call(f"open {path}", self.fs.open, path, mode=mode)
            return PythonFile(BoundedFile(raw, self.calls, path), mode=mode[0])

        def open_input_stream(self, path: str) -> Any:
            return self._open(path, "rb")

        def open_input_file(self, path: str) -> Any:
            return self._open(path, "rb")

        def open_output_stream(self, path: str, metadata: Any) -> Any:
            # Whole or absent, retried through an outage (._upload).
            return PythonFile(StagedUpload(self.fs, path, self.calls), mode="w")

        def open_append_stream(self, path: str, metadata: Any) -> Any:
            return self._open(path, "ab")

    def bounded(name: str) -> Any:
        method = getattr(pyarrow.fs.FSSpecHandler, name)

        def call(self: Any, *args: Any) -> Any:
            return self.calls.call(f"{name} {args[0] if args else ''}", method, self, *args)
        call.__name__ = name
        return call

    for name in ("get_file_info", "get_file_info_selector", "create_dir", "delete_dir",
                 "delete_dir_contents", "delete_root_dir_contents", "delete_file", "move",
                 "copy_file"):
        setattr(BoundedHandler, name, bounded(name))
    return BoundedHandler


_HANDLER: list[type] = []


def _make_handler(fs: Any, uri: str) -> Any:
    if not _HANDLER:
        _HANDLER.append(_bounded_handler_class())
    return _HANDLER[0](fs, uri)


def hdfs_filesystem(uri: str) -> tuple[Any, str]:
    """``(pyarrow filesystem, path)`` for an ``hdfs://`` URI (no network traffic yet).

    Every call through it is bounded and rides out short outages (:mod:`._bounded`).
    """
    if _Base is object:
        raise missing_dependency(f"logs_dir {uri!r}", "hdfs-native", "hdfs")
    import pyarrow.fs

    from zoo_tune.storage._kerberos import client_credentials

    host, port, path = namenode_of(uri)
    fs = ZooTuneHdfsFileSystem(host=host, port=port, **CLIENT_CONFIG, **client_credentials())
    return pyarrow.fs.PyFileSystem(_make_handler(fs, f"hdfs://{host}:{port}")), path


def check_namenode(uri: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise within ``timeout_s`` when the NameNode of ``uri`` does not accept connections."""
    host, port, _ = namenode_of(uri)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as err:
        raise InvalidInputError(f"The HDFS NameNode of {uri!r} at {host}:{port} did not answer "
                                f"within {timeout_s:.0f} s ({err}). Check the host and port "
                                f"(fs.defaultFS) and that HDFS is running.") from err
