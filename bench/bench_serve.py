#!/usr/bin/env python3
"""Serving benchmark: `feedsvc serve` vs nginx (deploy/nginx.conf) on one feed directory.

Builds the bundled articles/ into a temporary directory, starts `feedsvc serve -q` and
Debian's nginx (one worker, access log off) on 127.0.0.1 over that directory, and measures
requests per second with wrk (1 thread, 20 connections, --duration seconds per run; the
servers pinned to one core and wrk to another) for:

  304       GET /rss.xml with If-None-Match: the current ETag (what most polls get)
  gzip 200  GET /rss.xml with Accept-Encoding: gzip

then prints feedsvc's rate as a fraction of nginx's. nginx compresses on the fly unless a
.gz copy lies beside the feed, so its gzip rate is measured both ways. Each run is bounded by
its duration. Without wrk, a bounded Python client sends --requests requests per run instead
(its own speed then limits both servers; the figures say so).

usage: .venv/bin/python bench/bench_serve.py [--duration 5] [--connections 20]
                                             [--requests 20000] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from feedsvc.build import build  # noqa: E402
from feedsvc.config import load_config  # noqa: E402
from tests.servers import NginxServer, free_port, wait_for_port  # noqa: E402

PATH = "/rss.xml"
STATIC = "gzip 200, nginx with rss.xml.gz (gzip_static)"
SCENARIOS = {
    "304": lambda etag: {"If-None-Match": etag, "Accept-Encoding": "identity"},
    "gzip 200": lambda etag: {"Accept-Encoding": "gzip"},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--requests", type=int, default=20000, help="per run, without wrk")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    wrk = shutil.which("wrk")
    if nginx is None:
        print("nginx is not installed (apt-get install nginx-light)", file=sys.stderr)
        return 1
    pinned = wrk is not None and len(os.sched_getaffinity(0)) >= 2
    if pinned:
        # Servers on one core, wrk on another: otherwise they trade cores and the rates wander.
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        root = Path(tmp)
        config = load_config(REPO / "feedsvc.toml", {"feeds": {"output": str(root / "public")}})
        build(config)
        feedsvc_port, nginx_port = free_port(), free_port()
        feedsvc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "feedsvc",
                "serve",
                "-q",
                "--config",
                str(REPO / "feedsvc.toml"),
                "--output",
                str(root / "public"),
                "--bind",
                f"127.0.0.1:{feedsvc_port}",
            ],
            stdout=subprocess.DEVNULL,
        )
        web = NginxServer(nginx, root / "public", nginx_port, root / "nginx-run")
        try:
            wait_for_port(feedsvc_port, feedsvc)
            results = {}
            for server, port in (("feedsvc serve", feedsvc_port), ("nginx", nginx_port)):
                etag = _etag(port)
                for scenario, headers in SCENARIOS.items():
                    headers = headers(etag)
                    status = _status(port, headers)
                    expected = 304 if scenario == "304" else 200
                    if status != expected:
                        raise SystemExit(f"{server} answered {status} for {scenario}")
                    rate = (
                        _wrk(wrk, port, headers, args.duration, args.connections)
                        if wrk
                        else asyncio.run(
                            _python_load(port, headers, args.requests, args.connections)
                        )
                    )
                    results[server, scenario] = rate
            # nginx's best case for gzip: a compressed copy beside the feed (gzip_static).
            feed = root / "public" / PATH.lstrip("/")
            feed.with_name(feed.name + ".gz").write_bytes(
                gzip.compress(feed.read_bytes(), 9, mtime=0)
            )
            headers = SCENARIOS["gzip 200"]("")
            results["nginx", STATIC] = (
                _wrk(wrk, nginx_port, headers, args.duration, args.connections)
                if wrk
                else asyncio.run(_python_load(nginx_port, headers, args.requests, args.connections))
            )
        finally:
            feedsvc.terminate()
            feedsvc.wait()
            web.stop()

    tool = (
        f"wrk -t1 -c{args.connections} -d{args.duration}s"
        + (", servers on one core and wrk on another" if pinned else "")
        if wrk
        else f"Python client, {args.requests} requests, {args.connections} connections"
    )
    print(f"GET {PATH} on 127.0.0.1, {tool}")
    print(f"{'scenario':<10} {'feedsvc serve':>14} {'nginx':>10} {'ratio':>7}")
    for scenario in SCENARIOS:
        ours, theirs = results["feedsvc serve", scenario], results["nginx", scenario]
        print(f"{scenario:<10} {ours:>12.0f}/s {theirs:>8.0f}/s {ours / theirs:>7.2f}")
    ours, theirs = results["feedsvc serve", "gzip 200"], results["nginx", STATIC]
    print(f"{'gzip 200':<10} {ours:>12.0f}/s {theirs:>8.0f}/s {ours / theirs:>7.2f}  ({STATIC})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {"tool": tool, "results": {f"{s} | {c}": r for (s, c), r in results.items()}},
                indent=2,
            )
        )
    return 0


def _etag(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", PATH, headers={"Accept-Encoding": "identity"})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.headers["ETag"]


def _status(port: int, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", PATH, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status


def _wrk(wrk: str, port: int, headers: dict[str, str], duration: int, connections: int) -> float:
    command = [wrk, "-t1", f"-c{connections}", f"-d{duration}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    cores = os.sched_getaffinity(0)
    spare = sorted(set(range(os.cpu_count() or 1)) - cores)
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{PATH}"],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, {spare[0]})) if spare else None,
    ).stdout
    if "Non-2xx or 3xx responses" in output or "Socket errors" in output:
        raise SystemExit(f"wrk saw errors:\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


async def _python_load(port: int, headers: dict[str, str], total: int, connections: int) -> float:
    """A bounded keep-alive client: ``total`` requests over ``connections`` connections."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode()

    async def client(count: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", head)
            if length:
                await reader.readexactly(int(length.group(1)))
            elif b"chunked" in head.lower():
                while (size := int((await reader.readline()).split(b";")[0], 16)) > 0:
                    await reader.readexactly(size + 2)
                await reader.readline()
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(total // connections) for _ in range(connections)))
    return total // connections * connections / (time.perf_counter() - started)


if __name__ == "__main__":
    sys.exit(main())
