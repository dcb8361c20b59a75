"""The driver script of a YAML job run through spark-submit (``zoo-tune-submit --job FILE``).

spark-submit needs a Python file to run; this one runs ``zoo-tune run FILE`` in the driver,
wherever YARN put it (in cluster deploy mode, the application master's container, with FILE
shipped next to it by ``--files``).
"""

from __future__ import annotations

import sys

from zoo_tune.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
