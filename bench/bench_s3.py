"""What publishing to an S3 bucket costs beside the local store alone, in one run against a
real SeaweedFS on 127.0.0.1 (tests/seaweed.py's server, the one the S3 tests use).

Over a copy of the corpus (``shared/bench/gen_corpus.py N``, cached in bench/out), with
archives of 100 and the newest 50 in the subscription feeds, two configurations build the
same articles with the real ``build()`` (a fresh Catalog each time, as ``feedsvc build``):
the local directory alone, and the local directory plus ``[[outputs.s3]]``. Each step is
run --repeat times: a cold build (output, state and bucket prefix new each time), a no-op
rebuild, one new article, one edited article (the newest, then one in a full archive page),
one deleted article (recent, then old). Of each build it takes the median wall time, the
files the local build wrote, and for the bucket the requests its server counted (PUT,
DELETE, GET with HEAD, LIST), the objects written and deleted (the bucket listed before and
after) and their bytes. Then the sizes of the subscription feeds (and gzipped, as a CDN
sends them) and of a poll's 200 and 304 answers from the bucket (If-None-Match).

    .venv/bin/python bench/bench_s3.py [--n 10000] [--repeat 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from common import REPO, SITE_URL, TITLE, BenchError, add_sentence, ensure_corpus, log

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # for tests/seaweed.py

from botocore.client import BaseClient  # noqa: E402

from feedsvc.build import build  # noqa: E402
from feedsvc.config import Config, config_from_dict  # noqa: E402
from feedsvc.outputs.s3 import INDEX_NAME  # noqa: E402
from tests.seaweed import (  # noqa: E402
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    SeaweedServer,
    cannot_run,
    running_server,
)

METHODS = ("PUT", "DELETE", "GET", "LIST")  # as SeaweedFS's metrics name them
FEEDS = ("rss.xml", "atom.xml", "feed.json")
PREFIX = "site"
WARM_UP_ARTICLES = 200


@dataclass
class Bucket:
    """The bucket under test, as the server counts its requests and a listing shows it."""

    server: SeaweedServer
    client: BaseClient
    name: str

    def requests(self) -> dict[str, int]:
        return {method: self.server.requests(method, self.name) for method in METHODS}

    def objects(self, prefix: str) -> dict[str, tuple[str, int]]:
        """Every object below ``prefix`` but the index: key → (ETag, size)."""
        found: dict[str, tuple[str, int]] = {}
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=f"{prefix}/"
        )
        for page in pages:
            for item in page.get("Contents", ()):
                if not item["Key"].endswith(INDEX_NAME):
                    found[item["Key"]] = (item["ETag"], item["Size"])
        return found


def project(articles: Path, root: Path, bucket: Bucket | None = None, prefix: str = "") -> Config:
    """A configuration over ``articles`` publishing into ``root``/public, and with
    ``bucket`` below ``prefix`` in it too."""
    data: dict[str, Any] = {
        "site": {"title": TITLE, "url": SITE_URL},
        "articles": {"dir": str(articles)},
        "feeds": {"output": str(root / "public"), "archives": True, "archive_page_size": 100},
        "state": {"dir": str(root / "state")},
    }
    if bucket is not None:
        target = {
            "url": f"s3://{bucket.name}/{prefix}",
            "endpoint_url": bucket.server.endpoint_url,
            "region": REGION,
        }
        data["outputs"] = {"local": True, "s3": [target]}
    return config_from_dict(data, root)


def timed_build(config: Config, bucket: Bucket | None = None) -> dict[str, float]:
    """One build; its seconds and the files it reports written, and with ``bucket`` what the
    bucket saw: requests by method, objects written and deleted, and their kilobytes."""
    prefix = config.outputs.s3[0].prefix if bucket else ""
    before = bucket.objects(prefix) if bucket else {}
    counted = bucket.requests() if bucket else {}
    started = time.perf_counter()
    result = build(config)
    figures: dict[str, float] = {"s": time.perf_counter() - started}
    if result.rejected:
        raise BenchError(f"rejected: {result.rejected[0]}")
    figures["written"] = len(result.manifest.changed)
    if bucket is not None:
        after_counts = bucket.requests()
        figures.update({m: after_counts[m] - counted[m] for m in METHODS})
        after = bucket.objects(prefix)
        changed = [key for key, stored in after.items() if before.get(key) != stored]
        figures["objects"] = len(changed)
        figures["deleted"] = len(before.keys() - after.keys())
        figures["kb"] = sum(after[key][1] for key in changed) / 1000
    return figures


def new_article(articles: Path, number: int) -> None:
    """A new article in the corpus's format, newer than any other."""
    published = datetime.now(UTC) - timedelta(hours=1) + timedelta(minutes=number)
    path = articles / f"bench-new-{number}.txt"
    path.write_text(
        f"# A new story, number {number}\n\nIt is new. It says a few things.\n\n---\n\n"
        f"**META_DESCRIPTION:** A new story.\n\nPublished: {published:%B %d %Y %H:%M} UTC\n",
        encoding="utf-8",
    )


def by_date(corpus: Path) -> list[str]:
    """The corpus's article slugs, oldest first (from its manifest)."""
    rows = (line.split("\t") for line in (corpus / "manifest.tsv").read_text().splitlines()[1:])
    return [slug for slug, _ in sorted(((r[0], r[1]) for r in rows), key=lambda r: r[1])]


def changes(corpus: Path, articles: Path) -> list[tuple[str, Callable[[int], None]]]:
    """Each step after the cold builds: its name and what it does to the articles (the
    repeat's number given)."""
    slugs = by_date(corpus)
    newest, middle = slugs[-1], slugs[len(slugs) // 2]

    def edit(slug: str) -> Callable[[int], None]:
        def change(number: int) -> None:
            path = articles / f"{slug}.txt"
            path.write_bytes(add_sentence(path.read_bytes(), f"Correction {number}."))

        return change

    def delete(slugs: list[str]) -> Callable[[int], None]:
        return lambda number: (articles / f"{slugs[number]}.txt").unlink()

    return [
        ("no-op rebuild", lambda number: None),
        ("new article", lambda number: new_article(articles, number)),
        ("edit (newest article)", edit(newest)),
        ("edit (in a full archive page)", edit(middle)),
        ("delete (recent article)", delete(slugs[-2:-12:-1])),
        ("delete (old article)", delete(slugs[len(slugs) // 2 + 1 :])),
    ]


def http_bytes(url: str, headers: dict[str, str]) -> tuple[int, int, int, int]:
    """One GET of ``url`` over a fresh connection: (status, request bytes, response header
    bytes, response body bytes), as they went over the wire."""
    parts = urlsplit(url)
    lines = [f"GET {parts.path}?{parts.query} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join([*lines, "Connection: close", "", ""])).encode()
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=30) as sock:
        sock.sendall(request)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), len(request), len(head) + 4, len(body)


def sizes(bucket: Bucket, prefix: str, output: Path) -> dict[str, Any]:
    """The subscription feeds' bytes (plain and gzipped), a full archive page's, the index's,
    and a poll of rss.xml from the bucket: a 200, and a 304 for its ETag."""
    feeds = {}
    for name in (*FEEDS, "archive/rss/1.xml"):
        content = (output / name).read_bytes()
        feeds[name] = {"bytes": len(content), "gzip": len(gzip.compress(content, 6))}
    key = f"{prefix}/rss.xml"
    url = bucket.client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket.name, "Key": key}, ExpiresIn=600
    )
    etag = bucket.client.head_object(Bucket=bucket.name, Key=key)["ETag"]
    full = http_bytes(url, {})
    not_modified = http_bytes(url, {"If-None-Match": etag})
    if (full[0], not_modified[0]) != (200, 304):
        raise BenchError(f"the bucket answered {full[0]} and {not_modified[0]}, not 200 and 304")
    index = bucket.client.head_object(Bucket=bucket.name, Key=f"{prefix}/{INDEX_NAME}")
    return {
        "feeds": feeds,
        "index_bytes": index["ContentLength"],
        "poll_200": {"request": full[1], "head": full[2], "body": full[3]},
        "poll_304": {"request": not_modified[1], "head": not_modified[2], "body": 0},
    }


def measure(corpus: Path, scratch: Path, server: SeaweedServer, repeat: int) -> dict[str, Any]:
    """Every step's figures, local alone and local + bucket, medians over ``repeat`` changes."""
    bucket = Bucket(server, server.client(), server.create_bucket())
    articles = scratch / "articles"
    shutil.copytree(corpus / "project", articles)
    warm = scratch / "warm-up"
    warm.mkdir()
    for path in sorted(articles.iterdir())[:WARM_UP_ARTICLES]:
        shutil.copy2(path, warm)
    log("warm-up builds (imports, pools, the bucket's first writes)")
    build(project(warm, scratch / "warm-local"))
    build(project(warm, scratch / "warm-s3", bucket, prefix="warm-up"))
    steps: dict[str, dict[str, Any]] = {"cold build": {"local": [], "s3": []}}
    for number in range(repeat):
        log(f"cold builds {number + 1}/{repeat}: local store only, then local store + bucket")
        local = project(articles, scratch / f"local-{number}")
        remote = project(articles, scratch / f"s3-{number}", bucket, prefix=f"{PREFIX}-{number}")
        steps["cold build"]["local"].append(timed_build(local))
        steps["cold build"]["s3"].append(timed_build(remote, bucket))
    for name, change in changes(corpus, articles):
        log(name)
        runs: dict[str, list[dict[str, float]]] = {"local": [], "s3": []}
        for number in range(repeat):
            change(number)
            runs["local"].append(timed_build(local))
            runs["s3"].append(timed_build(remote, bucket))
        steps[name] = runs
    prefix = remote.outputs.s3[0].prefix
    return {"steps": steps, "sizes": sizes(bucket, prefix, remote.feeds.output)}


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def report(n: int, repeat: int, figures: dict[str, Any]) -> None:
    """The steps as a table, with the bucket's time as a ratio to the local store's, then
    the sizes."""
    print(f"\nN={n:,} articles, archives of 100, newest 50 in the feeds; median of {repeat}")
    print("(files: the local-only build wrote; PUT…LIST: requests the bucket's server counted;")
    print(" objects: written to the bucket, KB their bytes; deleted: removed from it)\n")
    header = ("step", "local s", "+S3 s", "ratio", "files")
    header += (*METHODS, "objects", "deleted", "KB")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, runs in figures["steps"].items():
        local, s3 = medians(runs["local"]), medians(runs["s3"])
        row = [name, f"{local['s']:.3f}", f"{s3['s']:.3f}", f"{s3['s'] / local['s']:.2f}"]
        row += [f"{local['written']:g}", *(f"{s3[m]:g}" for m in METHODS)]
        row += [f"{s3['objects']:g}", f"{s3['deleted']:g}", f"{s3['kb']:.1f}"]
        print("| " + " | ".join(row) + " |")
    found = figures["sizes"]
    print("\n| file | bytes | gzip | gzip / bytes |\n|---|---|---|---|")
    for name, size in found["feeds"].items():
        ratio = size["gzip"] / size["bytes"]
        print(f"| {name} | {size['bytes']:,} | {size['gzip']:,} | {ratio:.2f} |")
    print(f"| {INDEX_NAME} | {found['index_bytes']:,} | | |")
    full, cached = found["poll_200"], found["poll_304"]
    whole = full["request"] + full["head"] + full["body"]
    short = cached["request"] + cached["head"]
    print(
        f"\npoll of rss.xml from the bucket (request + response head + body):\n"
        f"  200: {full['request']} + {full['head']} + {full['body']:,} = {whole:,} B\n"
        f"  304 (If-None-Match): {cached['request']} + {cached['head']} = {short} B,"
        f" {short / whole:.4f} of the 200"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="articles in the corpus")
    parser.add_argument("--repeat", type=int, default=3, help="changes per step (max 10)")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not 1 <= args.repeat <= 10:
        parser.error("--repeat must be from 1 to 10")
    reason = cannot_run()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    corpus = ensure_corpus(args.shared, args.n)
    # The server's credentials, through the standard AWS chain: the environment only.
    os.environ.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    with tempfile.TemporaryDirectory(prefix="bench-s3-") as tmp:
        scratch = Path(tmp)
        os.environ["AWS_CONFIG_FILE"] = str(scratch / "no-aws-config")
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(scratch / "no-aws-credentials")
        with contextmanager(running_server)(scratch / "seaweed") as server:
            figures = measure(corpus, scratch, server, args.repeat)
    report(args.n, args.repeat, figures)
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "repeat": args.repeat, **figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
