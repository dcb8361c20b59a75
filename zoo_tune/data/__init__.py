"""Trial inputs: turn what the user passed to ``fit`` into something every trial can read.

Numpy data is validated on the driver, cast once (floats to float32) and put into the Ray
object store once per ``fit``; trials read it zero-copy. Creator functions and torch
``DataLoader`` objects travel as they are and are called or iterated inside each trial.

Example:
    >>> import numpy as np
    >>> from zoo_tune.data import check_input, prepare_input
    >>> staged = check_input((np.zeros((4, 2)), np.zeros(4)), "data", "torch")
    >>> staged.xs[0].dtype
    dtype('float32')
"""

from zoo_tune.data._inputs import (
    ArrayInput,
    CreatorInput,
    LocalArrays,
    TrialInput,
    check_input,
    prepare_input,
)

__all__ = [
    "ArrayInput",
    "CreatorInput",
    "LocalArrays",
    "TrialInput",
    "check_input",
    "prepare_input",
]
