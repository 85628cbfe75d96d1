"""The watcher: which events count, and one batch per burst, on a real directory."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from watchfiles import Change

from feedsvc.config import WatchConfig
from feedsvc.daemon.watch import is_relevant, watch_articles


@pytest.mark.parametrize(
    ("change", "name", "relevant"),
    [
        (Change.added, "story.md", True),
        (Change.modified, "2025/story.txt", True),
        (Change.deleted, "story.markdown", True),
        (Change.modified, ".story.md.swp", False),
        (Change.modified, "story.md~", False),
        (Change.added, "#story.md#", False),
        (Change.added, ".~lock.story.md#", False),
        (Change.added, ".hidden.md", False),
        (Change.added, ".git/story.md", False),
        (Change.modified, "notes.rst", False),
        (Change.deleted, "old-section", True),
        (Change.deleted, "picture.png", False),
    ],
)
def test_is_relevant(tmp_path: Path, change: Change, name: str, relevant: bool) -> None:
    assert is_relevant(change, str(tmp_path / name), tmp_path) is relevant


def test_added_directory_counts_but_not_outside_the_root(tmp_path: Path) -> None:
    (tmp_path / "section").mkdir()
    assert is_relevant(Change.added, str(tmp_path / "section"), tmp_path)
    assert not is_relevant(Change.added, "/elsewhere/story.md", tmp_path)


async def collect(root: Path, config: WatchConfig, write) -> list[set[Path]]:  # noqa: ANN001
    """The batches seen while ``write`` runs, until 0.6 s after the last one."""
    stop = asyncio.Event()
    batches: list[set[Path]] = []

    async def watch() -> None:
        async for paths in watch_articles(root, config, stop):
            batches.append(paths)

    task = asyncio.create_task(watch())
    await asyncio.sleep(0.3)  # the watch is set up on the first iteration
    await write()
    count = -1
    while count != len(batches) or not batches:
        count = len(batches)
        await asyncio.sleep(0.6)
    stop.set()
    await asyncio.wait_for(task, 5)
    return batches


def test_a_burst_of_writes_is_one_batch(tmp_path: Path) -> None:
    async def write() -> None:
        for number in range(100):
            (tmp_path / f"story-{number}.md").write_text("# Story\n")
            if number % 10 == 0:
                await asyncio.sleep(0.01)

    batches = asyncio.run(collect(tmp_path, WatchConfig(debounce_ms=200), write))
    assert len(batches) <= 2
    assert set().union(*batches) == {tmp_path / f"story-{n}.md" for n in range(100)}


def test_a_burst_ends_debounce_ms_after_its_last_event(tmp_path: Path) -> None:
    """Writes 150 ms apart under a 400 ms quiet window: one batch, no sooner than 400 ms
    after the last write."""
    loop_time: list[float] = []
    seen: list[tuple[float, set[Path] | None]] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        async def watch() -> None:
            async for paths in watch_articles(tmp_path, WatchConfig(debounce_ms=400), stop):
                seen.append((loop.time(), paths))

        task = asyncio.create_task(watch())
        await asyncio.sleep(0.3)
        for number in range(8):
            (tmp_path / f"story-{number}.md").write_text("# Story\n")
            loop_time.append(loop.time())
            await asyncio.sleep(0.15)
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert [paths for _, paths in seen] == [{tmp_path / f"story-{n}.md" for n in range(8)}]
    assert 0.4 <= seen[0][0] - loop_time[-1] < 1.0


def test_leftovers_are_filtered_out_of_batches(tmp_path: Path) -> None:
    async def write() -> None:
        (tmp_path / ".story.md.swp").write_text("x")
        (tmp_path / "story.md~").write_text("x")
        (tmp_path / "story.md").write_text("# Story\n")

    batches = asyncio.run(collect(tmp_path, WatchConfig(debounce_ms=50), write))
    assert set().union(*batches) == {tmp_path / "story.md"}


def test_polling_sees_changes_too(tmp_path: Path) -> None:
    async def write() -> None:
        (tmp_path / "story.md").write_text("# Story\n")

    batches = asyncio.run(collect(tmp_path, WatchConfig(debounce_ms=50, poll=True), write))
    assert set().union(*batches) == {tmp_path / "story.md"}


async def follow(root: Path, steps) -> list[set[Path] | None]:  # noqa: ANN001
    """The batches seen while ``steps`` run in turn, each given a second to be noticed."""
    stop = asyncio.Event()
    batches: list[set[Path] | None] = []

    async def watch() -> None:
        async for paths in watch_articles(root, WatchConfig(debounce_ms=50), stop):
            batches.append(paths)

    task = asyncio.create_task(watch())
    await asyncio.sleep(0.3)
    for step in steps:
        step()
        await asyncio.sleep(1.0)
    stop.set()
    await asyncio.wait_for(task, 5)
    return batches


def test_a_deleted_and_recreated_root_is_watched_again(tmp_path: Path) -> None:
    """A re-clone: inotify's watch died with the old directory; the new one is watched."""
    root = tmp_path / "articles"
    root.mkdir()

    def reclone() -> None:
        shutil.rmtree(root)
        root.mkdir()

    batches = asyncio.run(follow(root, [reclone, lambda: (root / "new.md").write_text("# New\n")]))
    assert batches == [None, {root / "new.md"}]


def test_a_symlinked_root_switched_to_a_new_target_is_followed(tmp_path: Path) -> None:
    """`ln -sfn releases/2 articles`: the new release is watched, the old one no longer."""
    one, two = tmp_path / "releases" / "1", tmp_path / "releases" / "2"
    one.mkdir(parents=True)
    two.mkdir()
    root = tmp_path / "articles"
    root.symlink_to(one)

    def switch() -> None:
        (tmp_path / "articles.new").symlink_to(two)
        os.replace(tmp_path / "articles.new", root)

    def write_both() -> None:
        (one / "old.md").write_text("# Old\n")
        (two / "new.md").write_text("# New\n")

    batches = asyncio.run(follow(root, [switch, write_both]))
    assert batches == [None, {two / "new.md"}]


def test_a_root_that_goes_away_is_waited_for(tmp_path: Path) -> None:
    root = tmp_path / "articles"
    root.mkdir()
    batches = asyncio.run(follow(root, [lambda: shutil.rmtree(root), lambda: root.mkdir()]))
    assert batches == [None]
