"""One exception tree: every error feedsvc raises on purpose is a FeedsvcError."""

from __future__ import annotations

from pathlib import Path


class FeedsvcError(Exception):
    """Root of feedsvc's errors."""

    message = "feedsvc error"

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)

    def __str__(self) -> str:
        cause = self.__cause__
        if cause is None:
            return self.message
        return f"{self.message}: {type(cause).__name__}: {cause}"


class ArticleError(FeedsvcError):
    """An article file that cannot be published; carries its path and, where known, the line."""

    message = "cannot read the article"

    def __init__(self, path: Path, message: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{display_path(self.path)}:{self.line}" if self.line else display_path(self.path)
        return f"{where}: {super().__str__()}"


class ConfigError(FeedsvcError):
    """A configuration value that is missing, unknown or wrong; carries the key."""

    message = "invalid configuration"

    def __init__(self, key: str, message: str | None = None) -> None:
        self.key = key
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.key}: {super().__str__()}"


class PublishError(FeedsvcError):
    """Feeds could not be written to, or announced at, a target."""

    message = "cannot publish"

    def __init__(self, target: str, message: str | None = None) -> None:
        self.target = target
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.target}: {super().__str__()}"


class BuildCancelled(FeedsvcError):
    """A build stopped on request (the daemon is stopping) before it wrote anything."""

    message = "build cancelled"


def display_path(path: Path) -> str:
    """The path relative to the working directory where it lies below it, else as given."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
