"""Packaging for zoo_tune: distributed hyper-parameter tuning on Ray, Spark and HDFS."""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

# Ranges, not pins: pip keeps what a user's environment already holds inside them. What CI
# installs (the low end of torch's range and everything else) is fixed by constraints.txt;
# scripts/check-ranges.sh installs the newest torch and pyspark 4 into a fresh venv and runs a
# fit there (README "Versions" has the tested matrix).
RAY = "ray[tune,client]>=2.60,<3"
TORCH = ["torch>=2.13,<3"]
KERAS = ["tensorflow-cpu>=2.21,<3"]
SPARK = [
    "pyspark>=3.5,<5",  # Spark 3.5 and 4.x: the driver's pyspark must match the cluster's Spark
    "psutil>=5.9",  # Ray-on-Spark needs psutil
    "venv-pack>=0.2",  # YARN modes: the venv shipped to containers as an archive
]
# cluster_mode="raydp": RayDP 1.6.5, its newest release, is built for Spark 3.5 only.
RAYDP = ["raydp>=1.6.5,<1.7", "pyspark>=3.5,<3.6", "psutil>=5.9"]
SEARCHERS = [
    "scikit-optimize>=0.10,<1",
    # zoo_tune's own searcher speaks 1.x and 3.x; beside nevergrad (whose newest release,
    # 1.0.12, pins ==1.4.0) pip resolves 1.4.0, alone the newest (3.4.0 in 2026-12).
    "bayesian-optimization>=1.4,<4",
    "hyperopt>=0.2.7,<1",
    "optuna>=3.0,<6",
    "nevergrad>=1.0,<2",
    "zoopt>=0.4.2,<1",
    "hpbandster>=0.7.4",
    "ConfigSpace>=0.7",
    "GPy>=1.10",  # pb2 scheduler
]
# zoo_tune's own AxSearch (ax.api.Client): Ray Tune 2.60's read Objective.metric, which
# ax-platform 1.3 removed, so no upper pin.
AX = ["ax-platform>=1.3,<2"]
# Tracking (fit(mlflow_uri=...)): the full package, since the sqlite:/// backend and
# `mlflow server` need it (mlflow-skinny has neither).
MLFLOW = ["mlflow>=3.0,<4"]
# The live progress widget in Jupyter (tqdm.auto picks tqdm.notebook there).
NOTEBOOK = ["tqdm>=4.66", "ipywidgets>=8"]
# HEBO pins numpy<1.25 and pandas<2: it cannot live beside numpy 2, so no extra installs it.
DEV = [
    "pytest>=8", "pytest-timeout>=2.3", "ruff>=0.6", "scikit-learn>=1.3", "psutil>=5.9",
    "pytest-xdist>=3.6",  # scripts/test.sh runs two groups of tests side by side
    "hypothesis>=6.100",  # fuzzed bad input (tests/estimator/test_fuzz_input.py)
    "tabulate>=0.9",  # pandas to_markdown (zoo-tune results --format md)
]

# The documentation site (scripts/docs.sh); scripts/test.sh builds it before the tests.
DOCS = ["mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26"]
EXTRAS_FOR_TESTS = [
    "matplotlib>=3.5", "hdfs-native>=0.10", "tensorboard>=2.10", "venv-pack>=0.2",
    "nbclient>=0.10", "nbformat>=5.9", "ipykernel>=6.29",  # examples/quickstart.ipynb, headless
]

setup(
    name="zoo_tune",
    version="0.1.0",
    description="Distributed hyper-parameter tuning for PyTorch and Keras on Ray, Spark and HDFS",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["zoo_tune", "zoo_tune.*"]),
    # cloudpickle: the experiment's setup (creators, metric) pickled beside its logs
    install_requires=[RAY, "numpy>=1.23", "pandas>=1.5", "pyarrow>=12", "tabulate>=0.9",
                      "pyyaml>=5.4", "cloudpickle>=2.2"],
    extras_require={
        "torch": TORCH,
        "keras": KERAS,
        "spark": SPARK,
        "raydp": RAYDP,
        "searchers": SEARCHERS,
        "ax": AX,
        "examples": ["scikit-learn>=1.3"],
        "plots": ["matplotlib>=3.5"],
        "hdfs": ["hdfs-native>=0.10"],
        "mlflow": MLFLOW,
        "notebook": NOTEBOOK,
        "docs": DOCS,
        "dev": DEV,
        # The main test venv is the Spark 3.5 line with RayDP; the tests run Spark 4 from an
        # overlay (scripts/install.sh).
        "test": (TORCH + KERAS + SEARCHERS + AX + MLFLOW + NOTEBOOK + DEV + EXTRAS_FOR_TESTS +
                 RAYDP + DOCS),
        "all": (TORCH + KERAS + SPARK + RAYDP + SEARCHERS + AX + MLFLOW + NOTEBOOK + DEV +
                EXTRAS_FOR_TESTS + DOCS),
    },
    entry_points={"console_scripts": ["zoo-tune = zoo_tune.cli:main"]},
    # An SPDX expression (PEP 639), not the license classifier setuptools>=77 warns about.
    license_expression="Apache-2.0",
    classifiers=["Programming Language :: Python :: 3"],
)
