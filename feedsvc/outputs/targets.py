"""The sink a configuration publishes to: the local directory and/or each configured bucket."""

from __future__ import annotations

import hashlib
import socket
from typing import TYPE_CHECKING

from feedsvc.config import Config, S3OutputConfig
from feedsvc.errors import display_path
from feedsvc.outputs.base import Sink
from feedsvc.outputs.fanout import FanOut
from feedsvc.outputs.localdir import LocalDirSink

if TYPE_CHECKING:
    from boto3.session import Session
    from botocore.awsrequest import AWSPreparedRequest
    from botocore.client import BaseClient

# Attempts per request (the first included) for an endpoint down, a 5xx or throttling:
# botocore's standard mode backs off exponentially with jitter, up to 20 s between attempts.
MAX_ATTEMPTS = 5
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0


def outputs(config: Config) -> Sink:
    """Every output ``[outputs]`` lists as one sink: the local directory alone, or the
    buckets behind the local copy (see FanOut)."""
    local = LocalDirSink(config.feeds.output, gzip_copies=config.feeds.gzip_copies)
    if not config.outputs.s3:
        return local
    from feedsvc.outputs.s3 import S3Sink  # boto3 loads only for a bucket

    buckets: list[Sink] = []
    for target in config.outputs.s3:
        max_age_s = config.serve.max_age_s if target.max_age_s is None else target.max_age_s
        client = s3_client(target)
        buckets.append(
            S3Sink(
                target.bucket,
                target.prefix,
                client,
                max_age_s=max_age_s,
                publisher=publisher_name(config),
            )
        )
    return FanOut([local] if config.outputs.local else [], buckets)


def publisher_name(config: Config) -> str:
    """This publisher, as the objects it writes name it to the others sharing a bucket: its
    host and state directory (stable across restarts), hashed (the metadata may be public)."""
    where = f"{socket.gethostname()}:{config.state_path.resolve()}"
    return hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def describe_outputs(config: Config) -> str:
    """Where builds publish, as messages name it: the output directory and each bucket."""
    local = [display_path(config.feeds.output)] if config.outputs.local else []
    return " and ".join(local + [target.url for target in config.outputs.s3])


def s3_client(
    target: S3OutputConfig, *, session: Session | None = None, max_attempts: int = MAX_ATTEMPTS
) -> BaseClient:
    """A boto3 S3 client for ``target``, its credentials from the standard AWS chain (or
    ``session``'s).

    Checksums only where an operation requires them (botocore 1.36 began sending CRC
    headers that non-AWS stores may refuse; uploads carry Content-MD5 instead); path-style
    addressing for an ``endpoint_url``, which need not resolve bucket subdomains; and no
    ``Expect: 100-continue`` on uploads: a feed is small, and a store slow to say "continue"
    (SeaweedFS, on a fresh connection) would hold each upload for botocore's one-second wait.
    """
    import boto3
    from botocore.config import Config as ClientConfig

    settings: dict[str, object] = {
        "retries": {"mode": "standard", "total_max_attempts": max_attempts},
        "connect_timeout": CONNECT_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
    }
    if target.endpoint_url:
        settings["s3"] = {"addressing_style": "path"}
    client = (session or boto3.session.Session()).client(
        "s3",
        endpoint_url=target.endpoint_url or None,
        region_name=target.region or None,
        config=ClientConfig(**settings),
    )
    client.meta.events.register("before-send.s3.PutObject", _send_at_once)
    return client


def _send_at_once(request: AWSPreparedRequest, **_: object) -> None:
    """Send the body without waiting to be told to continue (not a signed header)."""
    request.headers.pop("Expect", None)
