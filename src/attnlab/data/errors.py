"""Errors raised by the data loaders: one family, every message names the file and the problem.

All of them derive from :class:`DataError`, itself a :class:`ValueError`, so a caller can catch
every data problem with one ``except DataError`` (or ``except ValueError``) and print the message:
the loaders never let a parser traceback (``struct.error``, ``EOFError``, ``zlib.error`` ...)
escape.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CorruptFileError", "DataError", "DownloadError", "MissingDataError"]


class DataError(ValueError):
    """A data file is missing, corrupt, or could not be downloaded.

    Attributes:
        path: the file concerned, when there is one.
    """

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None


class CorruptFileError(DataError):
    """A file exists but cannot be used: wrong checksum or size, bad magic, truncated, wrong shape.

    Example:
        >>> error = CorruptFileError("x.idx: truncated", path="x.idx")
        >>> isinstance(error, ValueError), error.path.name
        (True, 'x.idx')
    """


class MissingDataError(DataError, FileNotFoundError):
    """A required file is not where it was expected (and downloading was not requested).

    Also a :class:`FileNotFoundError`, so code that already catches that keeps working.
    """

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        DataError.__init__(self, message, path=path)

    def __str__(self) -> str:
        # FileNotFoundError formats "[Errno ...]" from its args; keep the plain message
        return str(self.args[0]) if self.args else ""


class DownloadError(DataError):
    """Every URL (and every retry) of a file failed, or the downloaded bytes failed the checksum."""
