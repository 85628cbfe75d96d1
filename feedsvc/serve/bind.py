"""The address to listen at: ``host:port`` or ``[ipv6]:port``, parsed without a web server.

The configuration checks ``[serve] bind`` with this when it is read, and the server listens
where it says; neither should have to load uvicorn to do so.
"""

from __future__ import annotations

from feedsvc.errors import ConfigError

DEFAULT_BIND = "127.0.0.1:8080"


def parse_bind(bind: str) -> tuple[str, int]:
    """Split ``host:port`` or ``[ipv6]:port`` into the host and the port to listen on."""
    host, colon, port = bind.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if ":" not in host:
            raise ConfigError("serve.bind", f"brackets are for IPv6 addresses, not {bind!r}")
    elif ":" in host:
        raise ConfigError("serve.bind", f"write an IPv6 address in brackets: {bind!r}")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("serve.bind", f"must be host:port or [ipv6]:port, not {bind!r}")
    if any(c.isspace() or c in "/[]@" for c in host):
        raise ConfigError("serve.bind", f"not a host name or address: {host!r}")
    return host, int(port)
