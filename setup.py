"""Packaging for zoo_tune: distributed hyper-parameter tuning on Ray, Spark and HDFS."""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

RAY = "ray[tune,client]==2.60.0"
TORCH = ["torch==2.13.0"]
KERAS = ["tensorflow-cpu>=2.16"]
SPARK = [
    "pyspark==3.5.7", "raydp==1.6.5",
    "psutil>=5.9",  # Ray-on-Spark needs psutil
    "venv-pack>=0.2",  # YARN modes: the venv shipped to containers as an archive
]
SEARCHERS = [
    "scikit-optimize>=0.10",
    # zoo_tune's own searcher speaks 1.x and 3.x; beside nevergrad (whose newest release,
    # 1.0.12, pins ==1.4.0) pip resolves 1.4.0, alone the newest (3.4.0 in 2026-12).
    "bayesian-optimization>=1.4",
    "hyperopt>=0.2.7",
    "optuna>=3.0",
    "nevergrad>=1.0",
    "zoopt>=0.4.2",
    "hpbandster>=0.7.4",
    "ConfigSpace>=0.7",
    "GPy>=1.10",  # pb2 scheduler
]
# zoo_tune's own AxSearch (ax.api.Client): Ray Tune 2.60's read Objective.metric, which
# ax-platform 1.3 removed, so no upper pin.
AX = ["ax-platform>=1.3"]
# Tracking (fit(mlflow_uri=...)): the full package, since the sqlite:/// backend and
# `mlflow server` need it (mlflow-skinny has neither).
MLFLOW = ["mlflow>=3.0"]
# The live progress widget in Jupyter (tqdm.auto picks tqdm.notebook there).
NOTEBOOK = ["tqdm>=4.66", "ipywidgets>=8"]
# HEBO pins numpy<1.25 and pandas<2: it cannot live beside numpy 2, so no extra installs it.
DEV = [
    "pytest>=8", "pytest-timeout>=2.3", "ruff>=0.6", "scikit-learn>=1.3", "psutil>=5.9",
    "pytest-xdist>=3.6",  # scripts/test.sh runs two groups of tests side by side
    "hypothesis>=6.100",  # fuzzed bad input (tests/estimator/test_fuzz_input.py)
    "tabulate>=0.9",  # pandas to_markdown (zoo-tune results --format md)
]

EXTRAS_FOR_TESTS = [
    "matplotlib>=3.5", "hdfs-native>=0.10", "tensorboard>=2.10", "pyspark==3.5.7",
    "raydp==1.6.5", "venv-pack>=0.2",
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
    install_requires=[RAY, "numpy>=1.23", "pandas>=1.5", "pyarrow>=12", "tabulate>=0.9",
                      "pyyaml>=5.4"],
    extras_require={
        "torch": TORCH,
        "keras": KERAS,
        "spark": SPARK,
        "searchers": SEARCHERS,
        "ax": AX,
        "examples": ["scikit-learn>=1.3"],
        "plots": ["matplotlib>=3.5"],
        "hdfs": ["hdfs-native>=0.10"],
        "mlflow": MLFLOW,
        "notebook": NOTEBOOK,
        "dev": DEV,
        "test": TORCH + KERAS + SEARCHERS + AX + MLFLOW + NOTEBOOK + DEV + EXTRAS_FOR_TESTS,
        "all": (TORCH + KERAS + SPARK + SEARCHERS + AX + MLFLOW + NOTEBOOK + DEV +
                EXTRAS_FOR_TESTS),
    },
    entry_points={"console_scripts": ["zoo-tune = zoo_tune.cli:main"]},
    # An SPDX expression (PEP 639), not the license classifier setuptools>=77 warns about.
    license_expression="Apache-2.0",
    classifiers=["Programming Language :: Python :: 3"],
)
