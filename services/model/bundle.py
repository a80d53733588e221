"""The checkpoint bundle: an estimator with its feature list and policy.

`services.model.train` writes one with joblib; a bare estimator (anything
with scikit-learn's `predict(X)`) is accepted too and gets the service's
default features and policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.model.policy import Policy


@dataclass
class ModelBundle:
    estimator: Any  # has predict(X: ndarray[n, len(feature_names)]) -> ndarray[n]
    feature_names: tuple[str, ...]
    policy: Policy
    horizon_ticks: int
    card: dict[str, Any] = field(default_factory=dict)
