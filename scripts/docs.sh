#!/usr/bin/env bash
# The documentation site (MkDocs Material, API reference by mkdocstrings from the docstrings).
#   scripts/docs.sh build     # mkdocs build --strict into site/: a broken link or reference fails
#   scripts/docs.sh serve     # http://127.0.0.1:8000, rebuilt on every save
# Installs the `docs` extra (mkdocs, mkdocs-material, mkdocstrings[python]) into the project's
# venv ($ZOO_TUNE_VENV, default .venv) when it is not importable there yet.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${ZOO_TUNE_VENV:-$root/.venv}"
cd "$root"
export NO_MKDOCS_2_WARNING=1  # Material's banner about its successor, on every build
case "${1:-}" in
  build | serve) ;;
  *) echo "usage: scripts/docs.sh build|serve" >&2; exit 2 ;;
esac
if [ ! -x "$venv/bin/python" ]; then
  echo "docs.sh: no venv at $venv: run scripts/install.sh first (or set ZOO_TUNE_VENV)" >&2
  exit 1
fi
if ! "$venv/bin/python" -c "import mkdocs, material, mkdocstrings, mkdocstrings_handlers.python" \
    2>/dev/null; then
  echo "docs.sh: installing the docs extra into $venv" >&2
  "$venv/bin/pip" install -q -e "$root[docs]"
fi
if [ "$1" = build ]; then
  start=$(date +%s)
  "$venv/bin/python" -m mkdocs build --strict --site-dir site
  echo "docs: site/ built (strict) in $(( $(date +%s) - start )) s"
else
  exec "$venv/bin/python" -m mkdocs serve -a 127.0.0.1:8000
fi
