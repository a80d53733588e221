"""The error the market-data importers raise.

Hierarchy (a class also subclasses the builtin a caller may already catch)::

    PipelineError (common.errors)
    └── ImportFormatError (ValueError)    a market-data line an importer cannot read

Code branches on the class or its attributes (`path`, `line_number`), never
on message text.
"""

from __future__ import annotations

from pathlib import Path

from common.errors import PipelineError


class ImportFormatError(PipelineError, ValueError):
    """A line of a market-data file that an importer cannot read."""

    def __init__(self, path: Path | str, line_number: int, problem: str) -> None:
        super().__init__(f"{path}:{line_number}: {problem}")
        self.path, self.line_number, self.problem = Path(path), line_number, problem
