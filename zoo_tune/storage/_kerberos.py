"""Kerberos credentials for ``hdfs://`` storage, and the error that says when they are missing.

``init_context(principal=..., keytab=...)`` (or ``scripts/zoo-tune-submit --principal
--keytab``) puts the pair into this process's environment (:data:`PRINCIPAL_ENV`,
:data:`KEYTAB_ENV`); every hdfs-native client zoo_tune makes then logs in from the keytab
(hdfs-native takes them per client), in the driver and in trials on the same machine. In a
YARN container the client uses the delegation tokens YARN hands the container
(``HADOOP_TOKEN_FILE_LOCATION``) instead, even where the keytab's path exists there. Without
either, ``kinit``'s ticket cache is used, as by every Hadoop client.

Example:
    >>> is_kerberos_error(RuntimeError("GSSAPI error: No Kerberos credentials available"))
    True
"""

from __future__ import annotations

import os

from zoo_tune.errors import InvalidInputError, InvalidTypeError

PRINCIPAL_ENV = "ZOO_TUNE_KERBEROS_PRINCIPAL"
KEYTAB_ENV = "ZOO_TUNE_KERBEROS_KEYTAB"
TOKEN_FILE_ENV = "HADOOP_TOKEN_FILE_LOCATION"

# What hdfs-native (and a NameNode) say when Kerberos is required and no credential works.
_KERBEROS_TEXT = ("gssapi", "kerberos", "sasl", "cannot authenticate via", "no valid credentials",
                  "authentication required", "kinit", "simple authentication is not enabled")


class KerberosRequiredError(InvalidInputError):
    """An ``hdfs://`` location needs Kerberos credentials this process does not have."""


def check_credentials(principal: object, keytab: object) -> None:
    """Reject a half-given or unusable principal/keytab pair before any cluster work.

    Raises:
        InvalidTypeError: not strings.
        InvalidInputError: one without the other, an empty principal, a keytab that is not a
            readable file.
    """
    if principal is None and keytab is None:
        return
    if (principal is None) != (keytab is None):
        given, missing = ("principal", "keytab") if keytab is None else ("keytab", "principal")
        raise InvalidInputError(f"`{given}` needs `{missing}` too: Kerberos logs in as the "
                                f"principal with the keys in the keytab file (or give neither "
                                f"and run `kinit` first).")
    for name, value in (("principal", principal), ("keytab", keytab)):
        if not isinstance(value, str):
            raise InvalidTypeError(f"`{name}` must be a str, but got {value!r}.")
    assert isinstance(principal, str) and isinstance(keytab, str)
    if not principal.strip() or any(c.isspace() for c in principal):
        raise InvalidInputError(f"`principal` must look like 'alice@REALM', but got "
                                f"{principal!r}.")
    if not os.path.isfile(keytab) or not os.access(keytab, os.R_OK):
        raise InvalidInputError(f"`keytab` {keytab!r} is not a readable file (create one with "
                                f"`ktutil` or ask your Kerberos admin; scripts/kdc.sh keytab "
                                f"NAME makes one for the test KDC).")


def client_credentials() -> dict[str, str]:
    """hdfs-native's ``kerberos_principal`` / ``kerberos_keytab`` for a client made here.

    Empty when none were given; in a YARN container (delegation tokens) only the setting that
    makes hdfs-native use them.
    """
    principal, keytab = os.environ.get(PRINCIPAL_ENV), os.environ.get(KEYTAB_ENV)
    if not principal or not keytab:
        return {}
    if os.environ.get(TOKEN_FILE_ENV):
        return {"hadoop.security.authentication": "kerberos"}
    # hdfs-native logs in with Kerberos only when told the cluster uses it (core-site.xml of
    # HADOOP_CONF_DIR, or this setting); else it tries SIMPLE and retries for minutes.
    return {"kerberos_principal": principal, "kerberos_keytab": keytab,
            "hadoop.security.authentication": "kerberos"}


def is_kerberos_error(err: BaseException) -> bool:
    """Whether ``err`` says Kerberos (GSSAPI/SASL) authentication failed or is required."""
    text = str(err).lower()
    return any(part in text for part in _KERBEROS_TEXT)


def kerberos_required(uri: str, err: BaseException) -> KerberosRequiredError:
    """The error a user meets instead of a GSSAPI code: what is needed and how to give it."""
    given = os.environ.get(PRINCIPAL_ENV)
    tried = (f"the keytab login as {given!r} failed" if given else
             "this process has no Kerberos credentials (no keytab given, no usable ticket "
             "cache)")
    return KerberosRequiredError(
        f"{uri!r} is on a Kerberos-secured HDFS and {tried}: {err}. Give credentials before "
        f"fit or load: run `kinit alice@REALM` (a ticket cache, KRB5CCNAME), or "
        f"init_context(..., principal='alice@REALM', keytab='/path/alice.keytab') "
        f"(scripts/zoo-tune-submit --principal --keytab for a submitted job); KRB5_CONFIG "
        f"names the realm's krb5.conf if /etc/krb5.conf does not.")


def use_credentials(principal: str | None, keytab: str | None) -> dict[str, str | None]:
    """Make every hdfs-native client of this process (and of processes it starts) log in as
    ``principal`` from ``keytab``; returns what :func:`restore` puts back. Nothing when
    ``principal`` is None (a ``kinit`` ticket cache, or YARN's tokens, then apply).
    """
    saved = {PRINCIPAL_ENV: os.environ.get(PRINCIPAL_ENV), KEYTAB_ENV: os.environ.get(KEYTAB_ENV)}
    if principal is None or keytab is None:
        return {}
    os.environ[PRINCIPAL_ENV] = principal
    os.environ[KEYTAB_ENV] = os.path.abspath(keytab)
    return saved


def restore(saved: dict[str, str | None]) -> None:
    """Undo :func:`use_credentials`."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
