"""Connections that go only where the SSRF checks said: each (host, port) a request may
reach is pinned to its approved address, and every socket is put under the request's
deadline."""

from __future__ import annotations

import contextvars
import socket
from dataclasses import dataclass
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from sources.addresses import pin_key
from sources.deadline import Deadline
from sources.record import BlockedAddressError

# The hop being fetched in this thread: the addresses its checks approved, keyed by
# (host, port) as the connection names them, and the request's total deadline.
CURRENT_HOP: contextvars.ContextVar[Hop] = contextvars.ContextVar("hop")


@dataclass
class Hop:
    pins: dict[tuple[str, int], str]
    deadline: Deadline


class _PinnedMixin:
    """Connects only to the address the SSRF check approved for this very host name, and
    puts every socket under the request's deadline."""

    # Set by urllib3's HTTPConnection, which this is mixed into.
    _dns_host: str
    port: int

    def _new_conn(self) -> socket.socket:
        hop = CURRENT_HOP.get(None)
        host, port = self._dns_host, self.port
        pinned = hop.pins.get((pin_key(host), port)) if hop else None
        if hop is None or pinned is None:
            # Never resolve afresh: a second lookup is where DNS rebinding and an encoding
            # split (straße -> strasse vs xn--strae-oqa) would slip through.
            raise BlockedAddressError(
                f"refusing to connect to {host}:{port}: no checked address for it "
                "(a proxy or a host name the checks did not see)"
            )
        # Only the TCP connect uses the pinned IP; Host header, SNI and certificate
        # checks keep using the name, which is restored before TLS starts.
        self._dns_host = pinned
        try:
            sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        finally:
            self._dns_host = host
        hop.deadline.watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        hop, sock = CURRENT_HOP.get(None), getattr(self, "sock", None)
        if hop is not None and sock is not None:  # a kept-alive connection, used again
            hop.deadline.watch(sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _PinnedHTTPConnection(_PinnedMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedMixin, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class PinningAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PinnedHTTPPool,
            "https": _PinnedHTTPSPool,
        }
