"""The base error and the errors `common/` itself raises.

Hierarchy (a class also subclasses the builtin a caller may already catch)::

    PipelineError
    ├── ConfigError (ValueError)          bad flag, environment value or setting
    ├── WireError (ValueError)            a payload that cannot become a message
    │   ├── OversizeMessage               over the size cap, never unpacked
    │   ├── MalformedPayload              not msgpack, or not the frame layout
    │   ├── UnknownMessageType            `type` is not a message we know
    │   ├── UnsupportedVersion            `v` is not the version we speak
    │   └── InvalidField                  missing, wrong type or out of range
    ├── TickFileError (ValueError)        a tick file that cannot be trusted
    │   ├── TickFileHeaderError           not a tick file, or not the one expected
    │   └── TickFileCorrupt               truncated or damaged after N good records
    ├── JournalCorrupt (ValueError)       the executor journal is damaged mid-file
    ├── JournalWriteFailed (OSError)      the journal cannot take an entry (disk full, ...)
    └── HandshakeTimeout (TimeoutError)   expected peers did not say ready in time

Errors a service or a venue adapter owns subclass `PipelineError` in their
own `errors.py`, beside the code that raises them:

- `venues/errors.py`: `VenueError` (its `kind` a `VenueErrorKind`);
- `venues/kraken/errors.py`: `MalformedFrame`, `SubscriptionRejected`;
- `services/executor/errors.py`: `VenueMismatch`;
- `services/model/errors.py`: `CheckpointError`, `TrainingError`;
- `services/feed/importers/errors.py`: `ImportFormatError`.

`common/` never imports them. Code branches on the class or its attributes,
never on message text. No error text ever carries a secret.
"""

from __future__ import annotations

from pathlib import Path


class PipelineError(Exception):
    """Base class for every error this project raises on purpose."""


class ConfigError(PipelineError, ValueError):
    """A flag, environment value or setting that cannot be used."""


class WireError(PipelineError, ValueError):
    """A payload that cannot become a valid message."""

    reason = "malformed"  # counter key for `result.json`


class OversizeMessage(WireError):
    reason = "oversize"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"payload of {size} bytes exceeds the {limit}-byte cap")
        self.size, self.limit = size, limit


class MalformedPayload(WireError):
    reason = "malformed"


class UnknownMessageType(WireError):
    reason = "unknown_type"

    def __init__(self, msg_type: object) -> None:
        super().__init__(f"unknown message type {msg_type!r}")
        self.msg_type = msg_type


class UnsupportedVersion(WireError):
    reason = "unsupported_version"

    def __init__(self, msg_type: str, version: object, expected: int) -> None:
        super().__init__(f"{msg_type} schema version {version!r} is not {expected}")
        self.msg_type, self.version, self.expected = msg_type, version, expected


class InvalidField(WireError):
    reason = "invalid_field"

    def __init__(self, msg_type: str, field: str, value: object, why: str = "") -> None:
        detail = f" ({why})" if why else ""
        super().__init__(f"{msg_type}.{field} is invalid: {value!r}{detail}")
        self.msg_type, self.field, self.value = msg_type, field, value


class TickFileError(PipelineError, ValueError):
    """A tick file that cannot be trusted."""


class TickFileHeaderError(TickFileError):
    """Not a tick file, an unknown format version, or not the file expected."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem


class TickFileCorrupt(TickFileError):
    """The file ends early or is damaged; `good_records` ticks were read before."""

    def __init__(self, path: Path | str, good_records: int, problem: str) -> None:
        super().__init__(f"{path}: {problem} after {good_records} good records")
        self.path, self.good_records, self.problem = Path(path), good_records, problem


class HandshakeTimeout(PipelineError, TimeoutError):
    """Expected peers did not report ready before the deadline."""

    def __init__(self, missing: list[str], timeout_s: float) -> None:
        names = ", ".join(sorted(missing))
        super().__init__(f"no ready from {names} within {timeout_s:g} s")
        self.missing, self.timeout_s = sorted(missing), timeout_s


class JournalCorrupt(PipelineError, ValueError):
    """The executor's journal is damaged before its last line: state cannot be trusted."""

    def __init__(self, path: Path | str, line_number: int, problem: str) -> None:
        super().__init__(f"{path}:{line_number}: {problem}; refusing to guess positions")
        self.path, self.line_number, self.problem = Path(path), line_number, problem


class JournalWriteFailed(PipelineError, OSError):
    """An entry could not be written, flushed or fsynced: the journal takes nothing more.

    The entry is not in the book of record, so it must not be published or
    acted on. `errno` and `strerror` are the operating system's.
    """

    def __init__(self, path: Path | str, error: OSError) -> None:
        why = error.strerror or str(error)
        super().__init__(f"cannot write the journal {path}: {why}")
        self.path, self.errno, self.strerror = Path(path), error.errno, why

    def __str__(self) -> str:  # OSError's own would print only "[Errno 28] ..."
        return str(self.args[0])
