"""Pack a virtual environment into a ``.tar.gz`` that Spark ships to executors / YARN containers.

Built on `venv-pack <https://jcristharif.com/venv-pack/>`_ (what Spark's "Python Package
Management" page documents for virtual environments). Two things venv-pack leaves to us:

* Editable installs. A PEP 660 editable install (``pip install -e .``, how zoo_tune itself is
  usually installed for development) is a ``__editable__*.pth`` hook that imports the package
  from the project directory; venv-pack packs the hook, which finds nothing on another machine
  (or, worse, on this one imports the project tree instead of the archive). :func:`pack_env`
  leaves the hooks out and puts a real copy of each editable package (and its metadata) into the
  archive's ``site-packages``. Old-style editables (``.egg-link`` / path ``.pth``) are refused by
  venv-pack; the error says how to reinstall.
* The interpreter. venv-pack does not copy Python itself: ``bin/python`` stays a link to the
  base interpreter (``home`` in ``pyvenv.cfg``), which must exist at that path on every node
  (or pass ``python_prefix`` for where it lives there). Only the packages travel.

The format is ``.tar.gz``: Spark and YARN unpack it with ``tar`` (symlinks and permissions
kept); Spark's ``.zip`` and plain ``.tar`` unpacking loses permissions, so ``bin/python`` would
not run.

Example:
    >>> from zoo_tune.cluster import pack_env
    >>> path = pack_env("/tmp/env.tar.gz", exclude=["lib/*/site-packages/tensorflow*"])
    ... # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from zoo_tune.errors import InvalidInputError, missing_dependency

#: ``exclude=`` patterns for CPU-only nodes: triton (~0.7 GB), which compiles GPU kernels and
#: which torch's CPU paths never import (checked with torch 2.13.0: models, losses and every
#: optimizer). The ``nvidia-*`` wheels (~2.7 GB) must stay: PyPI's torch 2.13.0 is a CUDA build
#: and loads cuBLAS and friends when it is imported, GPU or not.
GPU_ONLY = tuple(f"lib/*/site-packages/{name}{tail}"
                 for name in ("triton", "triton-*") for tail in ("", "/*"))

logger = logging.getLogger(__name__)

#: Where :func:`pack_env` keeps archives when no ``output`` is given.
CACHE_DIR = Path(os.environ.get("ZOO_TUNE_CACHE", Path.home() / ".cache" / "zoo_tune")) / "envs"

#: Formats Spark and YARN unpack with permissions and symlinks intact.
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")


def _site_packages(prefix: Path) -> Path:
    found = sorted(prefix.glob("lib/python*/site-packages"))
    if len(found) != 1:
        raise InvalidInputError(f"Expected one lib/python*/site-packages under {prefix}, found "
                                f"{[str(p) for p in found]}.")
    return found[0]


def check_venv(prefix: str | os.PathLike[str]) -> Path:
    """Return ``prefix`` as a Path if it is a virtual environment (it has ``pyvenv.cfg``).

    Raises:
        InvalidInputError: not a directory, or not a venv (a conda env: use conda-pack and pass
            the archive; a system Python: create a venv).

    Example:
        >>> check_venv(sys.prefix)  # doctest: +SKIP
        PosixPath('/work/main/.venv')
    """
    path = Path(prefix).absolute()
    if not path.is_dir():
        raise InvalidInputError(f"`prefix` must be a virtual environment directory, but "
                                f"{str(path)!r} does not exist.")
    if not (path / "pyvenv.cfg").is_file():
        raise InvalidInputError(
            f"{str(path)!r} is not a virtual environment (no pyvenv.cfg). zoo_tune packs venvs "
            f"(python -m venv); pack a conda env with conda-pack and pass the .tar.gz as "
            f"`archive=` instead.")
    return path


def editable_packages(prefix: str | os.PathLike[str]) -> dict[str, dict[str, object]]:
    """The PEP 660 editable installs of a venv: dist-info name -> what packing needs.

    Each value has ``dist_info`` (the directory), ``project`` (the ``file://`` URL it was
    installed from) and ``sources`` (top-level module name -> the file or package directory the
    editable hook imports it from, found by asking the venv's own Python).

    Example:
        >>> editable_packages(".venv")  # doctest: +SKIP
        {'zoo_tune-0.1.0.dist-info': {'project': 'file:///work/main', 'sources': {...}, ...}}
    """
    site = _site_packages(Path(prefix).absolute())
    found: dict[str, dict[str, object]] = {}
    for direct_url in sorted(site.glob("*.dist-info/direct_url.json")):
        try:
            info = json.loads(direct_url.read_text())
        except (OSError, ValueError):
            continue
        if not info.get("dir_info", {}).get("editable"):
            continue
        dist_info = direct_url.parent
        top = dist_info / "top_level.txt"
        names = top.read_text().split() if top.is_file() else []
        found[dist_info.name] = {"dist_info": dist_info, "project": info.get("url"),
                                 "sources": _module_sources(Path(prefix), names)}
    return found


def _module_sources(prefix: Path, names: list[str]) -> dict[str, str]:
    """Ask the venv's Python where each top-level module really lives."""
    if not names:
        return {}
    code = ("import importlib.util, json, sys\n"
            "out = {}\n"
            "for name in sys.argv[1:]:\n"
            "    spec = importlib.util.find_spec(name)\n"
            "    if spec is None: continue\n"
            "    locs = list(spec.submodule_search_locations or [])\n"
            "    out[name] = locs[0] if locs else spec.origin\n"
            "print(json.dumps(out))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    out = subprocess.run([str(prefix / "bin" / "python"), "-c", code, *names],
                         capture_output=True, text=True, timeout=120, env=env,
                         cwd=tempfile.gettempdir())
    if out.returncode != 0:
        raise InvalidInputError(f"Could not locate the editable packages {names} with "
                                f"{prefix}/bin/python: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout)


def _copy_editables(editables: dict[str, dict[str, object]], dest: Path) -> list[Path]:
    """Copy each editable package and its metadata (minus the editable marker) into ``dest``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    copied = []
    for name, info in editables.items():
        dist_info = Path(str(info["dist_info"]))
        shutil.copytree(dist_info, dest / name,
                        ignore=shutil.ignore_patterns("direct_url.json", "RECORD"))
        copied.append(dest / name)
        for module, source in dict(info["sources"]).items():  # type: ignore[arg-type]
            src = Path(str(source))
            if src.is_dir():
                shutil.copytree(src, dest / module, ignore=ignore)
                copied.append(dest / module)
            elif src.is_file():
                shutil.copy2(src, dest / src.name)
                copied.append(dest / src.name)
    return copied


def _fingerprint(site: Path, extra_dir: Path, exclude: Sequence[str],
                 python_prefix: str | None) -> str:
    """A hash of what would be packed: installed distributions plus the editable copies."""
    digest = hashlib.sha256()
    digest.update(json.dumps([sorted(exclude), python_prefix, str(site)]).encode())
    for entry in sorted(site.iterdir()):
        if entry.name.endswith(".dist-info"):
            digest.update(entry.name.encode())
            record = entry / "RECORD"
            if record.is_file():
                digest.update(str(record.stat().st_mtime_ns).encode())
    for root, _dirs, files in sorted(os.walk(extra_dir)):
        for fn in sorted(files):
            path = Path(root, fn)
            digest.update(str(path.relative_to(extra_dir)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def pack_env(
    output: str | os.PathLike[str] | None = None,
    *,
    prefix: str | os.PathLike[str] | None = None,
    exclude: Sequence[str] = (),
    python_prefix: str | None = None,
    compress_level: int = 1,
    force: bool = False,
) -> str:
    """Pack a virtual environment (default: this Python's) into a ``.tar.gz`` for Spark/YARN.

    Ship it with ``archive=`` in :func:`zoo_tune.init_context` or with ``scripts/zoo-tune-submit
    --archive``; Spark unpacks it as ``./environment`` in every executor (and the YARN
    application master) and runs ``./environment/bin/python``.

    Args:
        output: The archive to write (``.tar.gz`` or ``.tgz``). Default: a file in
            ``~/.cache/zoo_tune/envs`` named after the venv and a hash of its installed
            packages, reused while that hash holds.
        prefix: The venv to pack (default ``sys.prefix``, the running one).
        exclude: Glob patterns (relative to the venv, e.g. ``"lib/*/site-packages/tensorflow*"``)
            of files to leave out; packages the trials do not import make the archive smaller.
            :data:`GPU_ONLY` leaves out triton for CPU-only nodes.
        python_prefix: Where the base Python lives on the nodes, if not where it lives here
            (venv-pack links ``bin/python`` to it instead of copying it).
        compress_level: gzip level, 0-9 (default 1: fast; a venv of wheels barely shrinks more).
        force: Re-pack even if ``output`` exists.

    Returns:
        The archive's absolute path.

    Raises:
        InvalidInputError: ``prefix`` is not a venv, ``output`` is not ``.tar.gz``/``.tgz``, a
            bad ``compress_level``, or venv-pack refuses the venv (old-style editable installs).
        MissingDependencyError: venv-pack is not installed.

    Example:
        >>> pack_env("/tmp/env.tar.gz", exclude=["lib/*/site-packages/tensorflow*"])
        ... # doctest: +SKIP
        '/tmp/env.tar.gz'
    """
    try:
        import venv_pack
        from venv_pack.core import File, VenvPackException
    except ImportError as err:
        raise missing_dependency("Packing the Python environment", "venv-pack",
                                 "spark") from err
    venv = check_venv(prefix or sys.prefix)
    if output is not None and not str(output).endswith(ARCHIVE_SUFFIXES):
        raise InvalidInputError(
            f"`output` must end in {' or '.join(ARCHIVE_SUFFIXES)} (Spark and YARN unpack those "
            f"with permissions and symlinks intact), but got {str(output)!r}.")
    if isinstance(compress_level, bool) or compress_level not in range(10):
        raise InvalidInputError(f"`compress_level` must be an int from 0 to 9, but got "
                                f"{compress_level!r}.")
    if isinstance(exclude, str):
        exclude = [exclude]
    start = time.monotonic()
    try:
        env = venv_pack.Env(str(venv))
    except VenvPackException as err:
        raise InvalidInputError(
            f"venv-pack cannot pack {str(venv)!r}: {err}\nReinstall such packages without "
            f"-e, or with a PEP 660 editable install (pip>=21.3, setuptools>=64), which zoo_tune "
            f"packs as a copy.") from err
    site = _site_packages(venv)
    site_rel = site.relative_to(venv)
    editables = editable_packages(venv)
    with tempfile.TemporaryDirectory(prefix="zoo_tune_pack_") as tmp:
        copies = Path(tmp)
        _copy_editables(editables, copies)
        if output is None:
            key = _fingerprint(site, copies, exclude, python_prefix)
            CACHE_DIR.mkdir(parents=True, exist_ok=True)
            output = CACHE_DIR / f"{venv.name.lstrip('.') or 'venv'}-{key}.tar.gz"
        output = Path(output).absolute()
        if output.exists() and not force:
            logger.info("Reusing the packed environment %s", output)
            return str(output)
        for pattern in exclude:
            env = env.exclude(pattern)
        for name in editables:  # the hooks and the editable metadata: replaced by the copies
            hook = f"__editable__*{name.split('-')[0]}*"
            env = env.exclude(str(site_rel / hook)).exclude(str(site_rel / "__pycache__" / hook))
            env = env.exclude(str(site_rel / name / "*"))
        env.files.extend(File(str(path), str(site_rel / path.relative_to(copies)))
                         for path in sorted(copies.rglob("*")) if not path.is_dir())
        output.parent.mkdir(parents=True, exist_ok=True)
        env.pack(output=str(output), format="tar.gz", python_prefix=python_prefix,
                 compress_level=compress_level, force=True)
    logger.info("Packed %s (%d editable package(s) copied) into %s: %.0f MB in %.1f s", venv,
                len(editables), output, output.stat().st_size / 1e6, time.monotonic() - start)
    return str(output)
