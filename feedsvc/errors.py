"""One exception tree: every error feedsvc raises on purpose is a FeedsvcError."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feedsvc.lint import Problem
    from feedsvc.model import Manifest

# A refusal lists this many problems, then counts the rest.
MAX_LISTED_PROBLEMS = 10


class FeedsvcError(Exception):
    """Root of feedsvc's errors."""

    message = "feedsvc error"

    def __init__(self, message: str | None = None, *, show_cause: bool = True) -> None:
        """``show_cause=False`` keeps the cause chained, for tracebacks, but out of str(): for
        a message that already says what went wrong in its reader's words."""
        if message is not None:
            self.message = message
        self.show_cause = show_cause
        super().__init__(self.message)

    def __str__(self) -> str:
        cause = self.__cause__
        if cause is None or not self.show_cause:
            return self.message
        return f"{self.message}: {type(cause).__name__}: {cause}"


class ArticleError(FeedsvcError):
    """An article file that cannot be published; carries its path and, where known, the line.

    str() names the path as given (absolute in a build), whatever the working directory;
    ``describe()`` is the line a person reads, relative to the working directory.
    """

    message = "cannot read the article"

    def __init__(
        self,
        path: Path,
        message: str | None = None,
        line: int | None = None,
        *,
        show_cause: bool = True,
    ) -> None:
        self.path = path
        self.line = line
        super().__init__(message, show_cause=show_cause)

    def __str__(self) -> str:
        return self._at(_printable(str(self.path)))

    def describe(self) -> str:
        """The error as the CLI prints it and the daemon logs it: ``articles/bad.md:7: ...``."""
        return self._at(display_path(self.path))

    @property
    def reason(self) -> str:
        """What is wrong, with its cause, without the path and line."""
        return super().__str__()

    def __reduce__(self) -> tuple[object, ...]:
        # Pickled as its text (a process pool sends it back; its cause need not travel).
        return (_article_error, (self.path, self.reason, self.line))

    def _at(self, shown_path: str) -> str:
        where = f"{shown_path}:{self.line}" if self.line else shown_path
        return f"{where}: {self.reason}"


def _article_error(path: Path, reason: str, line: int | None) -> ArticleError:
    return ArticleError(path, reason, line, show_cause=False)


class SubjectError(FeedsvcError):
    """An error about one named thing (a key, a target, a file, an address), which str()
    shows first: ``subject: message``."""

    def __init__(self, subject: str, message: str | None = None) -> None:
        self.subject = subject
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.subject}: {super().__str__()}"


class ConfigError(SubjectError):
    """A configuration value that is missing, unknown or wrong; its subject is the key."""

    message = "invalid configuration"

    @property
    def key(self) -> str:
        """The configuration key, ``table.name``."""
        return self.subject


class PublishError(SubjectError):
    """Feeds could not be written to a target (a file, a directory, an object); its subject
    names it. ``written`` holds the paths the failed put did write first (an object store
    writes one object at a time), and ``manifest`` the whole publish's, with what it did
    write as ``changed``: the pings those writes owe are sent, and no other."""

    message = "cannot publish"
    written: tuple[str, ...] = ()
    manifest: Manifest | None = None

    @property
    def target(self) -> str:
        """The file or directory that could not be written."""
        return self.subject


class StateError(SubjectError):
    """The catalog (the state file) cannot be opened, read or written; its subject is the
    file."""

    message = "cannot use the state file"

    @property
    def path(self) -> str:
        """The state file."""
        return self.subject


class ServeError(SubjectError):
    """The server cannot listen where it was asked to; its subject is the address."""

    message = "cannot serve"

    @property
    def bind(self) -> str:
        """The address that could not be listened at."""
        return self.subject


class BuildCancelled(FeedsvcError):
    """A build stopped on request (the daemon is stopping) before it wrote anything."""

    message = "build cancelled"


class EmptyFeedRefused(PublishError):
    """A build would take published feeds from some entries to none."""

    message = (
        "refusing to replace published entries with empty feeds (were the articles deleted,"
        " or a share unmounted?); the published feeds are kept; run `feedsvc build"
        " --allow-empty` to publish empty feeds on purpose"
    )


class DriftRefused(PublishError):
    """A build would change what readers hold more than a build may unasked: an id of a
    published entry, or more removals than ``[guard]`` allows. Its message names each entry."""

    message = "refusing to publish"


class LintRefused(PublishError):
    """The lint found problems ``[lint] refuse`` names in what a build would publish; its
    subject is the output. Nothing was written."""

    def __init__(self, target: str, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        message = f"refusing to publish, the published feeds are kept: {refusal(problems)}"
        super().__init__(target, message)


def refusal(problems: Sequence[Problem]) -> str:
    """The problems that refuse a build (the first few), and how to publish anyway."""
    listed = "; ".join(str(problem) for problem in problems[:MAX_LISTED_PROBLEMS])
    if len(problems) > MAX_LISTED_PROBLEMS:
        listed += f"; and {len(problems) - MAX_LISTED_PROBLEMS} more"
    rules = ", ".join(f'"{rule}"' for rule in dict.fromkeys(p.rule for p in problems))
    return f"{listed}; to publish anyway, set [lint] refuse without {rules}"


def display_path(path: Path) -> str:
    """The path relative to the working directory where it lies below it, else as given;
    quoted and escaped when it holds anything unprintable, so a name cannot forge a log line."""
    try:
        shown = str(path.relative_to(Path.cwd()))
    except ValueError:
        shown = str(path)
    return _printable(shown)


def quote_value(value: object, limit: int = 80) -> str:
    """A value as a message shows it: quoted, escaped like repr, and cut to ``limit``
    characters, so a rejection never echoes a huge or multi-line value."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _escaped(text)


def _printable(shown: str) -> str:
    """A path as shown: as it is, or quoted and escaped when it holds anything unprintable."""
    return shown if shown.isprintable() else _escaped(shown)


def _escaped(text: str) -> str:
    """``text`` in single quotes, with undecodable bytes of a file name (surrogate escapes)
    as ``\\xff``, other unprintables, quotes and backslashes escaped as in Python."""
    parts = []
    for char in text:
        if "\udc80" <= char <= "\udcff":
            parts.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif char.isprintable() and char not in "\\'":
            parts.append(char)
        else:
            parts.append(char.encode("unicode_escape").decode("ascii").replace("'", "\\'"))
    return "'" + "".join(parts) + "'"
