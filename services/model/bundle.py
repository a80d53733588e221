"""The checkpoint bundle: an estimator with its features, signal, policy and costs.

`services.model.train` writes one; a bare estimator (anything with
scikit-learn's `predict(X)`) is accepted too and gets the built-in features
and the service's default policy. The feature source and the policy are
named by import path (`plugins.PluginRef`), so a trader's own classes need
no change to the project; a built-in `Policy` object is still accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

BUILTIN_FEATURES: Final = "services.model.features:FeatureState"
ENTRY_TAKER_FEE_BPS: Final = 40.0  # Kraken spot, lowest volume tier


@dataclass
class ModelBundle:
    """What a checkpoint holds.

    Attributes:
        estimator: has predict(X: rows of `feature_names`), or predict_proba
            when `class_values` is set.
        feature_names: the estimator's columns, each one of the feature
            source's `names` (a subset, in any order).
        policy: a `plugins.PluginRef` naming a `contract.TargetPolicy`, or a
            built-in policy object.
        horizon_ticks: the label's horizon (for the card and the reader).
        card: the model card (what `train` measured and chose).
        features: a `plugins.PluginRef` naming the feature source class;
            None: the built-in `features.FeatureState`.
        class_values: for a classifier, the signal each of `estimator.classes_`
            stands for (the signal is their expectation under predict_proba);
            None: the estimator's `predict` is the signal.
        taker_fee_bps: the fee the policy's `Costs` carry.
    """

    estimator: Any
    feature_names: tuple[str, ...]
    policy: Any
    horizon_ticks: int
    card: dict[str, Any] = field(default_factory=dict)
    features: Any = None
    class_values: tuple[float, ...] | None = None
    taker_fee_bps: float = ENTRY_TAKER_FEE_BPS
