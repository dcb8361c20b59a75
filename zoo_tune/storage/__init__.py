"""Where results and checkpoints live: a local path or a URI, as a pyarrow filesystem.

Example:
    >>> from zoo_tune.storage import resolve_storage
    >>> store = resolve_storage("/tmp/zoo_tune_logs")
    >>> store.scheme, store.path
    ('local', '/tmp/zoo_tune_logs')
"""

from zoo_tune.storage._storage import SCHEMES, Storage, resolve_storage

__all__ = ["SCHEMES", "Storage", "resolve_storage"]
