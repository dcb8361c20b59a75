"""Kerberos settings of zoo_tune, checked before any cluster work (no KDC needed here; the
real KDC and kerberized HDFS are in tests/security/)."""

from __future__ import annotations

import os

import pytest

from zoo_tune import init_context
from zoo_tune.errors import InvalidInputError, InvalidTypeError
from zoo_tune.storage import _kerberos
from zoo_tune.storage._bounded import is_outage


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"principal": "alice@ZOO.TEST"}, InvalidInputError, "`principal` needs `keytab` too"),
        ({"keytab": "/k"}, InvalidInputError, "`keytab` needs `principal` too"),
        ({"principal": "alice@ZOO.TEST", "keytab": "/nonexistent.keytab"}, InvalidInputError,
         "is not a readable file"),
        ({"principal": "al ice", "keytab": __file__}, InvalidInputError,
         "must look like 'alice@REALM'"),
        ({"principal": 7, "keytab": __file__}, InvalidTypeError, "`principal` must be a str"),
    ],
)
def test_bad_credentials_fail_before_cluster_work(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        init_context("local", **kwargs)
    assert issubclass(error, RuntimeError)


def test_credentials_reach_clients_and_go_with_the_context(monkeypatch, tmp_path):
    keytab = tmp_path / "alice.keytab"
    keytab.write_bytes(b"\x05\x02")
    monkeypatch.delenv(_kerberos.PRINCIPAL_ENV, raising=False)
    monkeypatch.delenv(_kerberos.KEYTAB_ENV, raising=False)
    monkeypatch.delenv(_kerberos.TOKEN_FILE_ENV, raising=False)
    saved = _kerberos.use_credentials("alice@ZOO.TEST", str(keytab))
    assert _kerberos.client_credentials() == {"kerberos_principal": "alice@ZOO.TEST",
                                              "kerberos_keytab": str(keytab),
                                              "hadoop.security.authentication": "kerberos"}
    # In a YARN container the delegation tokens authenticate instead.
    monkeypatch.setenv(_kerberos.TOKEN_FILE_ENV, str(tmp_path / "tokens"))
    assert _kerberos.client_credentials() == {"hadoop.security.authentication": "kerberos"}
    _kerberos.restore(saved)
    assert _kerberos.PRINCIPAL_ENV not in os.environ


def test_kerberos_errors_are_not_outages_and_read_clearly():
    err = RuntimeError("SASL error: GSSAPI error: No Kerberos credentials available")
    assert _kerberos.is_kerberos_error(err) and not is_outage(err)
    assert not _kerberos.is_kerberos_error(ConnectionRefusedError("Connection refused"))
    message = str(_kerberos.kerberos_required("hdfs://nn:8020/logs", err))
    assert "Kerberos-secured HDFS" in message and "kinit" in message
    assert "principal='alice@REALM', keytab=" in message
    assert isinstance(_kerberos.kerberos_required("hdfs://x/y", err), ValueError)
