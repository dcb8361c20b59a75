"""Trial schedulers by name: which running trial to stop, pause or perturb.

Example:
    >>> from zoo_tune.schedulers import scheduler_class
    >>> scheduler_class("AsyncHyperBand").__name__  # doctest: +SKIP
    'AsyncHyperBandScheduler'
"""

from zoo_tune.schedulers._registry import SCHEDULERS, create_scheduler, scheduler_class

__all__ = ["SCHEDULERS", "create_scheduler", "scheduler_class"]
