"""Closed-form ridge regression on standardised features, numpy only.

scikit-learn compatible where it matters here: `fit(X, y)` and `predict(X)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class RidgeModel:
    """y ~ ((X - mean) / scale) @ coef + intercept, fitted with an L2 penalty."""

    # `weights_` as Python floats for `predict_row`, made on its first call (a
    # class default, so a loaded checkpoint needs no field of it) and dropped by `fit`.
    _row_weights: list[float] | None = None

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha
        self.mean_ = np.zeros(0)
        self.scale_ = np.ones(0)
        self.coef_ = np.zeros(0)
        self.intercept_ = 0.0
        self.weights_ = np.zeros(0)
        self.bias_ = 0.0

    @property
    def n_features_in_(self) -> int:
        return int(self.coef_.shape[0])

    def fit(self, features: np.ndarray, target: np.ndarray) -> RidgeModel:
        self.mean_ = features.mean(axis=0)
        scale = features.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)  # a constant column contributes nothing
        standard = (features - self.mean_) / self.scale_
        self.intercept_ = float(target.mean())
        gram = standard.T @ standard + self.alpha * np.eye(standard.shape[1])
        self.coef_ = np.linalg.solve(gram, standard.T @ (target - self.intercept_))
        # Fold the standardisation into one weight vector: predict is then a dot.
        self.weights_ = self.coef_ / self.scale_
        self.bias_ = self.intercept_ - float(self.mean_ / self.scale_ @ self.coef_)
        self.__dict__.pop("_row_weights", None)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=float)
        if features.ndim != 2 or features.shape[1] != self.n_features_in_:
            raise ValueError(
                f"expected rows of {self.n_features_in_} features, got shape {features.shape}"
            )
        # Multiply-and-sum, not `@`: a matrix product and a row's dot product
        # round differently, and a batch must predict exactly what one row does.
        return (features * self.weights_).sum(axis=1) + self.bias_

    def predict_row(self, row: Sequence[float]) -> float:
        """One row (the live hot path), in plain Python: no numpy call at all.

        The same products summed in the same order as `predict`'s
        multiply-and-sum over a row of seven (numpy adds fewer than eight
        elements one after another), so the value is bit-identical: a test
        compares the two on a whole recording.
        """
        weights = self._row_weights
        if weights is None:
            weights = self._row_weights = self.weights_.tolist()
        total = 0.0
        for value, weight in zip(row, weights, strict=True):
            total += value * weight
        return total + self.bias_
