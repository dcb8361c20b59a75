"""Three groups of tests, each with its own services, run side by side by ``scripts/test.sh``.

``pytest -n 3 --dist loadscope`` (pytest-xdist) with :func:`make_scheduler` gives each group to
one worker, which runs its tests in file order: the split is fixed, not left to timing, so every
run is the same. (xdist's own ``loadgroup`` marks do nothing under pytest 9.2: it renames
``item._nodeid``, which pytest 9.2 no longer reads; a scheduler whose scope is the group does
not depend on that.) With fewer workers than groups, a worker that ends its group takes the
next one.

* ``clusters``: the tests that use the package's Spark standalone cluster, YARN and the packed
  archive (``tests/cluster/``). Much of their time is waiting (JVMs starting, YARN localizing
  the archive, Ray on Spark bringing up nodes), which the other groups' CPU work fills.
* ``faults``: the fault and Kerberos tests (``tests/faults/``, ``tests/security/``): their own
  KDC, kerberized HDFS and YARN, and long waits by design (a NameNode frozen, delegation tokens
  outliving their renew interval, drivers killed and resumed), which cost the others little.
* ``local``: everything else: the session's local Ray (``ray_local``), the local Spark session
  of the DataFrame tests, the HDFS of the storage tests, MLflow, the benchmark smokes.

A session-scoped fixture runs once per worker that asks for it: ``hdfs_cluster`` starts one
HDFS in each group that uses it (each its own run dir and free ports). Every test still finds
and ends only its own processes (by run dir, application id or an environment tag), so groups
never see each other's. Without ``-n`` nothing changes.
"""

from __future__ import annotations

#: Test files (relative to the repository root, prefix match) of the ``clusters`` group.
CLUSTERS = ("tests/cluster/",)

#: Test files of the ``faults`` group.
FAULTS = ("tests/faults/", "tests/security/")


#: Tests under those prefixes that run in the ``local`` group all the same: they start their
#: own short-lived cluster (no package fixture of ``tests/cluster/conftest.py``), and the
#: ``clusters`` group's sum is the longer one.
LOCAL_AFTER_ALL = (
    "tests/cluster/test_gpus.py",
    "tests/cluster/test_ray_nodes_wait.py",  # the session's local Ray (ray_local)
    "tests/cluster/test_token_refresh.py",  # the session's local Ray (ray_local)
    "tests/cluster/test_spark4.py::test_spark4_refuses",
    "tests/cluster/test_spark4.py::test_spark4_local_cluster",
)


def group_of(nodeid: str) -> str:
    """The group of a test, from its node id.

    Example:
        >>> group_of("tests/cluster/test_yarn.py::test_pack_env_bad_input")
        'clusters'
        >>> group_of("tests/cluster/test_gpus.py::test_impossible_gpu_request_refused")
        'local'
        >>> group_of("tests/security/test_kdc.py::test_kdc_start_keytab_kinit_stop")
        'faults'
    """
    if nodeid.startswith(LOCAL_AFTER_ALL):
        return "local"
    if nodeid.startswith(CLUSTERS):
        return "clusters"
    return "faults" if nodeid.startswith(FAULTS) else "local"


def make_scheduler(config, log):
    """pytest-xdist's scope scheduler with :func:`group_of` as the scope (``--dist loadscope``).

    Returns None (xdist's own scheduler) for any other ``--dist``.
    """
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)
