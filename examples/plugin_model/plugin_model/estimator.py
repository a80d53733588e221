"""The estimator: a scikit-learn pipeline, built by a function the trainer calls.

`python -m services.model.train --estimator plugin_model.estimator:pipeline
--estimator-param n_estimators=50` calls `pipeline(n_estimators=50)`.
"""

from __future__ import annotations

from sklearn.ensemble import GradientBoostingRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def pipeline(n_estimators: int = 50, max_depth: int = 3) -> Pipeline:
    # Trees predict each row on its own, so a batch of rows and one row at a time
    # give the very same numbers: what the parity check holds to 0. Plain gradient
    # boosting predicts on one thread: no OpenMP pool to wake for each tick's call.
    return Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "boost",
                GradientBoostingRegressor(
                    n_estimators=n_estimators, max_depth=max_depth, random_state=0
                ),
            ),
        ]
    )
