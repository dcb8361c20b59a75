"""Search algorithms by name: what config a new trial gets next.

Example:
    >>> from zoo_tune.search import SEARCH_ALGS
    >>> "random" in SEARCH_ALGS
    True
"""

from zoo_tune.search._registry import SEARCH_ALGS, create_search_alg, search_alg_class

__all__ = ["SEARCH_ALGS", "create_search_alg", "search_alg_class"]
