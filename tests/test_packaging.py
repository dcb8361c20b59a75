"""Package metadata: the license declared as an SPDX expression, no deprecated classifier."""

from __future__ import annotations

import importlib.metadata


def test_license_is_an_spdx_expression_without_the_deprecated_classifier():
    meta = importlib.metadata.metadata("zoo_tune")
    assert meta.get("License-Expression") == "Apache-2.0"
    assert not [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
