"""Rendering a large article in a worker process, under a time and a memory budget.

Every article's work is linear in its size, but Markdown at its worst costs several seconds and
hundreds of MB for a body near the size limit, all of it holding the GIL of the process that
also serves feeds and feeds the watchdog. A body over ``IN_PROCESS_CHARS`` is therefore
rendered in a child process that is killed when it runs out of time and cannot grow past its
memory limit: a pathological file costs its own article, by name, and nothing else.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from typing import TYPE_CHECKING

from feedsvc.config import Config
from feedsvc.errors import ArticleError
from feedsvc.model import Article, Entry

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

# Below this a body renders in well under half a second whatever it holds: no worker needed.
IN_PROCESS_CHARS = 64_000


class BudgetExceeded(ArticleError):
    """Rendering ran out of time or memory, or its worker failed: on a busy machine it may
    succeed later, so a scheduled rescan tries the article again."""


@dataclass(frozen=True)
class Budget:
    """What rendering one large article may take."""

    seconds: float = 10.0
    memory_bytes: int = 2 * 2**30


def render_in_worker(article: Article, body: str, config: Config, budget: Budget) -> Entry:
    """``to_entry`` for ``article`` in a child process; raises ArticleError when it fails or
    exceeds ``budget``."""
    import multiprocessing  # only builds that meet a large body pay for it

    context = multiprocessing.get_context("forkserver")
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(
        target=_render, args=(sender, article, body, config, budget.memory_bytes), daemon=True
    )
    try:
        try:
            worker.start()
        except OSError as exc:
            raise BudgetExceeded(
                article.path, f"cannot start a worker to render it ({exc})"
            ) from exc
        sender.close()
        if not receiver.poll(budget.seconds):
            raise BudgetExceeded(
                article.path, f"took more than {budget.seconds:g} s to render: too complex"
            )
        try:
            outcome = receiver.recv()
        except (EOFError, OSError) as exc:
            raise BudgetExceeded(
                article.path,
                f"rendering it failed (over {budget.memory_bytes // 2**20} MiB of memory?)",
                show_cause=False,  # the pipe's EOF says only that the worker died
            ) from exc
    finally:
        sender.close()
        receiver.close()
        if worker.is_alive():
            worker.kill()
        if worker.pid is not None:
            worker.join()
    if isinstance(outcome, Entry):
        return outcome
    message, line = outcome
    raise ArticleError(article.path, message, line=line)


def _render(
    sender: Connection, article: Article, body: str, config: Config, memory_bytes: int
) -> None:
    """The child: cap its address space, render, send the Entry or the ArticleError back."""
    from feedsvc.content import to_entry
    from feedsvc.render import Renderer

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    # An Entry, or an ArticleError's (message, line): its path is the parent's to add.
    outcome: Entry | tuple[str, int | None]
    try:
        outcome = to_entry(article, body, config, Renderer())
    except ArticleError as error:
        outcome = (error.message, error.line)
    except MemoryError as exc:  # over the budget: the parent hears of it as the worker's failure
        raise SystemExit(1) from exc
    except Exception as exc:  # noqa: BLE001 (a bug, but this article's: reported by name)
        outcome = (f"cannot render the article ({exc!r})", None)
    sender.send(outcome)
    sender.close()
