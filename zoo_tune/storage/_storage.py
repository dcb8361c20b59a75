"""Path or URI -> (pyarrow filesystem, path): what Ray Tune writes to and zoo_tune reads."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from zoo_tune.errors import InvalidInputError, InvalidTypeError

#: URI scheme -> what it is. A path without a scheme is local.
SCHEMES: dict[str, str] = {
    "local": "a local path (/tmp/zoo_tune_logs, ~/runs, relative paths)",
    "file": "file:///abs/path, the same as a local path",
    "s3": "s3://bucket/prefix through pyarrow's S3 client (AWS_* environment variables)",
    "hdfs": "hdfs://namenode:port/path, or hdfs:///path with fs.defaultFS from HADOOP_CONF_DIR "
            "(hdfs-native client: no JVM or Hadoop CLI needed)",
}


@dataclass(frozen=True)
class Storage:
    """A resolved storage location.

    Attributes:
        uri: What the user gave, normalised (absolute for local paths).
        scheme: A key of :data:`SCHEMES`.
        fs: The ``pyarrow.fs.FileSystem``; ``None`` for local storage, which Ray Tune handles
            natively.
        path: The path inside ``fs`` (the absolute path for local storage).
    """

    uri: str
    scheme: str
    fs: Any
    path: str

    @property
    def filesystem(self) -> Any:
        """The pyarrow filesystem, local included."""
        if self.fs is not None:
            return self.fs
        import pyarrow.fs

        return pyarrow.fs.LocalFileSystem()

    def join(self, *parts: str) -> str:
        """``path`` joined with ``parts`` (POSIX separators)."""
        return posixpath.join(self.path, *parts)

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Write ``data`` to ``relative`` below :attr:`path`, creating folders."""
        target = self.join(relative)
        self.filesystem.create_dir(posixpath.dirname(target), recursive=True)
        with self.filesystem.open_output_stream(target) as f:
            f.write(data)

    def read_bytes(self, relative: str) -> bytes:
        """Read ``relative`` below :attr:`path`."""
        with self.filesystem.open_input_stream(self.join(relative)) as f:
            return f.read()

    def check_writable(self) -> None:
        """Raise a clear error unless this location can be reached and written, quickly.

        Raises:
            InvalidInputError: unreachable NameNode, or no permission to write here.
        """
        if self.scheme == "hdfs":
            from zoo_tune.storage._hdfs import check_namenode

            check_namenode(self.uri)
        probe = f".zoo_tune_write_probe_{os.getpid()}"
        try:
            self.write_bytes(probe, b"")
            self.filesystem.delete_file(self.join(probe))
        except (OSError, RuntimeError) as err:
            self._raise_if_kerberos(err)
            raise InvalidInputError(f"Cannot write to {self.uri!r}: {err}. Pick a logs_dir / "
                                    f"remote_dir this user may write to.") from err

    def _raise_if_kerberos(self, err: BaseException) -> None:
        """Raise ``KerberosRequiredError`` when ``err`` says this HDFS wants Kerberos."""
        from zoo_tune.storage._kerberos import is_kerberos_error, kerberos_required

        if self.scheme == "hdfs" and is_kerberos_error(err):
            raise kerberos_required(self.uri, err) from err

    def exists(self, relative: str = "") -> bool:
        """Whether ``relative`` below :attr:`path` exists."""
        import pyarrow.fs

        try:
            info = self.filesystem.get_file_info(self.join(relative) if relative else self.path)
        except (OSError, RuntimeError) as err:
            self._raise_if_kerberos(err)
            raise
        return info.type != pyarrow.fs.FileType.NotFound


def resolve_storage(uri: str) -> Storage:
    """Resolve ``logs_dir`` / ``remote_dir`` to a :class:`Storage`, before any cluster work.

    Args:
        uri: A local path or a URI whose scheme is in :data:`SCHEMES`.

    Raises:
        InvalidInputError: an unsupported scheme (the supported ones are listed).
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidTypeError(f"A storage location must be a non-empty string, but got {uri!r}.")
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt"):
        path = parsed.path if scheme == "file" else uri
        path = os.path.abspath(os.path.expanduser(path))
        return Storage(path, "local", None, path)
    if scheme == "hdfs":
        from zoo_tune.storage._hdfs import hdfs_filesystem

        fs, path = hdfs_filesystem(uri)
        return Storage(uri, scheme, fs, path)
    if scheme == "s3":
        import pyarrow.fs

        fs, path = pyarrow.fs.FileSystem.from_uri(uri)
        return Storage(uri, scheme, fs, path)
    raise InvalidInputError(f"Unsupported storage scheme {scheme!r} in {uri!r}. Supported: "
                            f"{sorted(SCHEMES)} ({'; '.join(SCHEMES.values())}).")
