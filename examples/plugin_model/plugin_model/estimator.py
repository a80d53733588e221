"""The estimator: a scikit-learn pipeline, built by a function the trainer calls.

`python -m services.model.train --estimator plugin_model.estimator:pipeline
--estimator-param max_iter=50` calls `pipeline(max_iter=50)`.
"""

from __future__ import annotations

from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def pipeline(max_iter: int = 50, max_depth: int = 3) -> Pipeline:
    # Trees predict each row on its own, so a batch of rows and one row at a time
    # give the very same numbers: what the parity check holds to 0.
    return Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "boost",
                HistGradientBoostingRegressor(
                    max_iter=max_iter, max_depth=max_depth, random_state=0
                ),
            ),
        ]
    )
