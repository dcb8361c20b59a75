"""Two groups of tests, each with its own services, run side by side by ``scripts/test.sh``.

``pytest -n 2 --dist loadscope`` (pytest-xdist) with :func:`make_scheduler` gives each group to
one worker, which runs its tests in file order: the split is fixed, not left to timing, so every
run is the same. (xdist's own ``loadgroup`` marks do nothing under pytest 9.2: it renames
``item._nodeid``, which pytest 9.2 no longer reads; a scheduler whose scope is the group does
not depend on that.)

* ``clusters``: the tests that start Spark clusters, YARN and the archive (``tests/cluster/``,
  the Spark benchmark smokes). Much of their time is waiting (JVMs starting, YARN localizing
  the archive, Ray on Spark bringing up nodes), which the other group's CPU work fills.
* ``local``: everything else: the session's local Ray (``ray_local``), the local Spark session
  of the DataFrame tests, the HDFS of the storage and fault tests, MLflow.

A session-scoped fixture runs once per worker that asks for it: ``hdfs_cluster`` starts one
HDFS in each group (each its own run dir and free ports). Every test still finds and ends only
its own processes (by run dir, application id or an environment tag), so two groups never see
each other's. Without ``-n`` nothing changes.
"""

from __future__ import annotations

#: Test files (relative to the repository root, prefix match) of the ``clusters`` group.
CLUSTERS = (
    "tests/cluster/",
    "tests/test_bench_smoke.py",
    "tests/test_bench_frames_smoke.py",
    # waiting-bound tests of the local group's kind (the session's local Ray, subprocesses),
    # moved here to even out the two groups' sums
    "tests/faults/test_retries.py",
    "tests/test_notebook.py",
)


#: Tests under those prefixes that run in the ``local`` group all the same: they start their
#: own short-lived cluster (no package fixture of ``tests/cluster/conftest.py``), and the
#: ``clusters`` group's sum is the longer one.
LOCAL_AFTER_ALL = (
    "tests/cluster/test_gpus.py",
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
    """
    if nodeid.startswith(LOCAL_AFTER_ALL):
        return "local"
    return "clusters" if nodeid.startswith(CLUSTERS) else "local"


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
