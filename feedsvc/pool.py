"""Many article files to their outcomes, and many articles to their entries, at once: on
every core (a process pool) when there are enough of them to pay for the workers, else here.
Results come back in the order given."""

from __future__ import annotations

import ctypes
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from feedsvc.articles.read import read_body
from feedsvc.budget import IN_PROCESS_CHARS
from feedsvc.config import Config
from feedsvc.content import to_entry
from feedsvc.errors import ArticleError
from feedsvc.model import Article, Entry, Parsed
from feedsvc.outcome import Seen, outcome
from feedsvc.render import Renderer

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

# Below this many files a pool costs more (starting workers) than it saves.
MIN_PARALLEL = 1000
CHUNK = 250
PR_SET_PDEATHSIG = 1  # prctl(2)
Job = tuple[Path, Seen | None]
Rendered = Entry | ArticleError | None
T = TypeVar("T")


def outcomes(
    jobs: Sequence[Job], root: Path, config: Config, renderer: Renderer, now: datetime
) -> Iterator[Parsed]:
    """Each job's outcome, in order: read in a pool of processes when there are many."""
    if worth_a_pool(len(jobs)):
        yield from _in_pool(_chunk, jobs, root, config, now)
        return
    for path, before in jobs:
        yield outcome(path, root, config, renderer, before, now)


def entries(articles: Sequence[Article], root: Path, config: Config) -> Iterator[Rendered]:
    """Each article's entry, rendered in a pool of processes (call when ``worth_a_pool``):
    its ArticleError when it cannot be shown, None when its body is large enough to need a
    budget (see feedsvc.budget), which the caller then gives it."""
    return _in_pool(_render_chunk, articles, root, config)


def worth_a_pool(jobs: int) -> bool:
    """True when ``jobs`` files or articles are worth starting workers for."""
    return _workers(jobs) > 1


def _in_pool(work: Callable[..., list[T]], jobs: Sequence[Any], *args: Any) -> Iterator[T]:
    """``work(chunk, *args)`` for each chunk of ``jobs`` in a pool; the results in order."""
    from concurrent.futures import ProcessPoolExecutor  # only a large build pays for it

    chunks = [jobs[i : i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    context = _context()
    # A forked worker's parent is this process; a forkserver's worker's is the server.
    parent = os.getpid() if context.get_start_method() == "fork" else 0
    pool = ProcessPoolExecutor(
        _workers(len(jobs)), mp_context=context, initializer=_follow_parent, initargs=(parent,)
    )
    try:
        futures = [pool.submit(work, chunk, *args) for chunk in chunks]
        for future in futures:
            yield from future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _workers(jobs: int) -> int:
    if jobs < MIN_PARALLEL:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(cores or 1, -(-jobs // CHUNK))


def _context() -> BaseContext:
    """fork when this process runs one thread (the CLI: workers start at once, nothing to
    import again); forkserver otherwise (forking a threaded process can deadlock)."""
    import multiprocessing

    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver")


def _follow_parent(parent: int) -> None:
    """Make this worker die with the process that started it (the build's, or the
    forkserver, which ends with the build's): a build killed with SIGKILL must not leave
    workers waiting forever for work (Linux; elsewhere a no-op). ``parent``, when known, is
    checked: it may have died before the request took effect."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if parent and os.getppid() != parent:
        os._exit(1)


def _chunk(jobs: Sequence[Job], root: Path, config: Config, now: datetime) -> list[Parsed]:
    renderer = Renderer()
    return [outcome(path, root, config, renderer, before, now) for path, before in jobs]


def _render_chunk(articles: Sequence[Article], root: Path, config: Config) -> list[Rendered]:
    renderer = Renderer()
    return [_rendered(article, root, config, renderer) for article in articles]


def _rendered(article: Article, root: Path, config: Config, renderer: Renderer) -> Rendered:
    try:
        body = read_body(article, root)
        if len(body) > IN_PROCESS_CHARS:
            return None
        return to_entry(article, body, config, renderer)
    except ArticleError as error:
        return error
    except Exception as exc:  # noqa: BLE001 (a bug, but one article's: reported, with its cause)
        return ArticleError(article.path, f"cannot render the article ({exc!r})")
