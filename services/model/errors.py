"""The errors the model service raises (checkpoints, training).

Hierarchy (a class also subclasses the builtin a caller may already catch)::

    PipelineError (common.errors)
    ├── CheckpointError (ValueError)      unpinned, mismatched or unusable checkpoint
    └── TrainingError (ValueError)        data that cannot train a model

Code branches on the class or its attributes, never on message text.
"""

from __future__ import annotations

from common.errors import PipelineError


class CheckpointError(PipelineError, ValueError):
    """A checkpoint that must not or cannot be loaded (pin, format, shape)."""


class TrainingError(PipelineError, ValueError):
    """Training data that cannot produce a model (too short, degenerate)."""
