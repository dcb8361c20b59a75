"""Ray token authentication for the clusters zoo_tune starts, and for joining one.

Every Ray cluster zoo_tune starts (``local``, the Ray on Spark modes, YARN, ``raydp``) gets a
fresh random token (256 bits) in a file only this user can read (a ``0700`` directory, the
file ``0600``), named by ``ctx.auth_token_file``. This process and the head read it through
``RAY_AUTH_MODE=token`` + ``RAY_AUTH_TOKEN_PATH``; the Ray nodes in Spark executors get it
from :class:`zoo_tune.cluster._ray_hook.TokenStartHook`, which Ray on Spark asks for the
nodes' environment (it travels inside the Spark task that starts each node, not in Spark's
configuration, UI or event log). ``~/.ray/auth_token`` is never written or read for them.
:meth:`ClusterAuth.close` puts the environment back and deletes the file.

Joining (``cluster_mode="ray"``, ``raydp`` with ``address``) uses the caller's token:
``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH`` (``RAY_AUTH_MODE=token`` is implied).

Example:
    >>> auth = open_auth(True)  # doctest: +SKIP
    >>> oct(os.stat(auth.token_file).st_mode & 0o777)  # doctest: +SKIP
    '0o600'
    >>> auth.close()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

MODE_ENV = "RAY_AUTH_MODE"
TOKEN_ENV = "RAY_AUTH_TOKEN"
TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"
#: Ray on Spark instantiates the class this names to ask for the Ray nodes' environment.
HOOK_ENV = "RAY_ON_SPARK_START_HOOK"
#: Where :class:`~zoo_tune.cluster._ray_hook.TokenStartHook` finds a hook the caller had set.
INNER_HOOK_ENV = "ZOO_TUNE_INNER_RAY_ON_SPARK_START_HOOK"
HOOK_CLASS = "zoo_tune.cluster._ray_hook.TokenStartHook"
_ENV_KEYS = (MODE_ENV, TOKEN_ENV, TOKEN_PATH_ENV, HOOK_ENV, INNER_HOOK_ENV)

OPT_OUT_WARNING = (
    "ray_auth=False: this Ray cluster runs WITHOUT token authentication. Anyone who can reach "
    "its ports (GCS, raylets, the Ray Client server) can run code there as this user, with "
    "this job's data and HDFS access (CVE-2023-48022). Leave ray_auth at its default unless "
    "the network is yours alone.")


@dataclass
class ClusterAuth:
    """The authentication of one context's Ray: what :func:`open_auth` set, to undo it.

    Attributes:
        token_file: The token's ``0600`` file (``None``: authentication off, or a joined
            cluster whose token is the caller's).
    """

    token_file: str | None = None
    _saved: dict[str, str | None] = field(default_factory=dict, repr=False)

    def close(self) -> None:
        """Restore the environment ``open_auth`` changed and delete the token file.

        Call it after this process left Ray (``ray.shutdown()``). Idempotent.
        """
        if not self._saved and self.token_file is None:
            return
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved = {}
        refresh_ray_token_cache()
        if self.token_file is not None:
            shutil.rmtree(Path(self.token_file).parent, ignore_errors=True)
            self.token_file = None


def open_auth(enabled: bool) -> ClusterAuth:
    """Set this process up to start a Ray cluster with (or, opted out, without) a new token.

    Args:
        enabled: ``False`` starts Ray without authentication, with a warning.

    Returns:
        What :meth:`ClusterAuth.close` undoes; ``token_file`` names the token when enabled.
    """
    auth = ClusterAuth(_saved={key: os.environ.get(key) for key in _ENV_KEYS})
    previous_hook = os.environ.get(HOOK_ENV)
    if previous_hook and previous_hook != HOOK_CLASS:
        os.environ[INNER_HOOK_ENV] = previous_hook
    os.environ[HOOK_ENV] = HOOK_CLASS
    os.environ.pop(TOKEN_ENV, None)
    os.environ.pop(TOKEN_PATH_ENV, None)
    if not enabled:
        logger.warning(OPT_OUT_WARNING)
        os.environ[MODE_ENV] = "disabled"
        refresh_ray_token_cache()
        return auth
    auth.token_file = write_token(secrets.token_hex(32))
    os.environ[MODE_ENV] = "token"
    os.environ[TOKEN_PATH_ENV] = auth.token_file
    refresh_ray_token_cache()
    logger.info("Ray token authentication on; the token is in %s (0600).", auth.token_file)
    return auth


def join_auth() -> ClusterAuth:
    """Before joining a running cluster: ``RAY_AUTH_MODE=token`` when the caller gave a token
    (``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH``) but no mode, so that it is sent."""
    auth = ClusterAuth(_saved={MODE_ENV: os.environ.get(MODE_ENV)})
    if MODE_ENV not in os.environ and (os.environ.get(TOKEN_ENV)
                                        or os.environ.get(TOKEN_PATH_ENV)):
        os.environ[MODE_ENV] = "token"
        refresh_ray_token_cache()
    return auth


def has_token() -> bool:
    """Whether this process would send a token (mode ``token`` and a token given)."""
    return os.environ.get(MODE_ENV, "").lower() == "token" and bool(
        os.environ.get(TOKEN_ENV) or os.environ.get(TOKEN_PATH_ENV)
        or (Path.home() / ".ray" / "auth_token").is_file())


def node_env() -> dict[str, str]:
    """The authentication environment of a Ray node this process starts on an executor.

    Read from this process's environment when Ray on Spark starts the cluster: the token
    itself (``RAY_AUTH_TOKEN``), since an executor on another host cannot read the file.
    """
    if os.environ.get(MODE_ENV, "").lower() != "token":
        return {MODE_ENV: "disabled"}
    token = os.environ.get(TOKEN_ENV)
    path = os.environ.get(TOKEN_PATH_ENV)
    if not token and path:
        token = Path(path).read_text(encoding="utf-8").strip()
    if not token:
        raise RuntimeError("Ray token authentication is on but this process has no token "
                           f"({TOKEN_ENV} / {TOKEN_PATH_ENV}).")
    return {MODE_ENV: "token", TOKEN_ENV: token}


def write_token(token: str) -> str:
    """Write ``token`` to a new ``0600`` file in a new ``0700`` directory; return its path."""
    directory = tempfile.mkdtemp(prefix="zoo-tune-auth-")  # 0700 by mkdtemp
    path = os.path.join(directory, "ray_token")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token)
    return path


def refresh_ray_token_cache() -> None:
    """Make an imported Ray read the authentication environment again (it caches the mode
    and the token per process); nothing when Ray was not imported yet."""
    import sys

    raylet = sys.modules.get("ray._raylet")
    if raylet is None:
        return
    try:
        raylet.Config.initialize("")  # the mode first, then the token (Ray's own order)
        raylet.AuthenticationTokenLoader.instance().reset_cache()
    except AttributeError:  # a Ray without token authentication: nothing cached
        logger.debug("This Ray has no token authentication cache to refresh.")
