"""The one HTTP client for all upstream traffic: timeouts, size cap, SSRF checks, and
HTTP failures mapped to transient or permanent source errors."""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import re
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from sources.record import (
    BlockedAddressError,
    PermanentSourceError,
    TransientSourceError,
)
from sources.urls import url_matches_domain

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "Freshet/0.1 (+https://github.com/freshet)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHARSET_RE = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.I)

# (host, port) -> the IP address the SSRF check approved, for the connection being made
# in this thread; lets the socket go to the checked address rather than re-resolving.
_PINNED: contextvars.ContextVar[dict[tuple[str, int], str]] = contextvars.ContextVar("pinned")


class HttpStatusError(PermanentSourceError):
    """A 4xx answer (other than 429); `status` says which."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass
class Response:
    status: int
    url: str
    headers: dict[str, str] = field(default_factory=dict)  # keys lower-cased
    text: str = ""
    content: bytes = b""


def _connect_pinned(conn: HTTPConnection, connect: Callable[[], socket.socket]) -> socket.socket:
    """`connect()` (the connection's own _new_conn) to the address the SSRF check pinned."""
    pinned = _PINNED.get({}).get((conn._dns_host, conn.port))
    if pinned is None:
        return connect()
    original = conn._dns_host
    # Only the TCP connect uses the pinned IP; Host header, SNI and certificate
    # checks keep using the name, which is restored before TLS starts.
    conn._dns_host = pinned
    try:
        return connect()
    finally:
        conn._dns_host = original


class _PinnedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connect_pinned(self, super()._new_conn)


class _PinnedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _connect_pinned(self, super()._new_conn)


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinningAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PinnedHTTPPool,
            "https": _PinnedHTTPSPool,
        }


def _ip_is_blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and _ip_is_blocked(embedded):
            return True
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _safe_url(url: str) -> str:
    # Query strings and userinfo may carry tokens; keep them out of logs and messages.
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def _decode(content: bytes, content_type: str) -> str:
    match = re.search(r"charset=[\"']?([\w-]+)", content_type, re.I)
    charset = match.group(1) if match else None
    if charset is None:
        meta = _CHARSET_RE.search(content[:2048])
        charset = meta.group(1).decode("ascii") if meta else "utf-8"
    try:
        return content.decode(charset, errors="replace")
    except LookupError:
        return content.decode("utf-8", errors="replace")


class HttpClient:
    """GETs and POSTs to upstreams with SSRF protection and error mapping."""

    def __init__(
        self,
        timeout: float = 10.0,
        user_agent: str = DEFAULT_USER_AGENT,
        max_bytes: int = 5_000_000,
        allow_private: bool = False,
        allowed_private_hosts: Iterable[str] = (),
        max_redirects: int = 5,
        session: requests.Session | None = None,
    ):
        self.timeout = timeout
        # Per-socket-operation timeouts don't stop a slow-drip body; this bounds the call.
        self.deadline = timeout * 3
        self.user_agent = user_agent
        self.max_bytes = max_bytes
        self.allow_private = allow_private
        self.allowed_private_hosts = frozenset(h.strip().lower() for h in allowed_private_hosts)
        self.max_redirects = max_redirects
        if session is None:
            session = requests.Session()
            adapter = _PinningAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self.session = session

    def close(self) -> None:
        self.session.close()

    def get(
        self,
        url: str,
        *,
        allowed_domains: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        return self._request("GET", url, None, allowed_domains, headers)

    def post(
        self,
        url: str,
        *,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        allowed_domains: Sequence[str] | None = None,
    ) -> Response:
        return self._request("POST", url, body, allowed_domains, headers)

    def check_url(self, url: str) -> dict[tuple[str, int], str]:
        """Refuse non-http(s) URLs and hosts resolving to non-public addresses.

        Returns the approved address to connect to, keyed by (host, port), or {} when no
        check applied (private addresses allowed for this host)."""
        try:
            parts = urlsplit(url)
            scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
        except ValueError as exc:
            raise BlockedAddressError(f"invalid URL: {exc}") from exc
        if scheme not in ("http", "https") or not host:
            raise BlockedAddressError(f"only http and https URLs are fetched, not {url[:80]!r}")
        port = port or (443 if scheme == "https" else 80)
        if self.allow_private or host in self.allowed_private_hosts:
            return {}
        if f"{host}:{port}" in self.allowed_private_hosts:
            return {}
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
                raise PermanentSourceError(f"host {host} does not resolve") from exc
            raise TransientSourceError(f"could not resolve {host}: {exc}") from exc
        # sockaddr[0] is the address as text for AF_INET/AF_INET6 (an IPv6 one may carry
        # a "%scope" suffix); str() only satisfies the wider type typeshed gives it.
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        if not addresses:
            raise PermanentSourceError(f"host {host} does not resolve")
        for ip in addresses:
            if _ip_is_blocked(ip):
                raise BlockedAddressError(
                    f"refusing to fetch {host}: it resolves to a non-public address ({ip})"
                )
        return {(host, port): str(addresses[0])}

    def _check_hop(
        self, url: str, allowed_domains: Sequence[str] | None, hop: int
    ) -> dict[tuple[str, int], str]:
        # Domain first: it needs no DNS, and a URL outside the catalog is refused as such.
        if allowed_domains is not None and not any(
            url_matches_domain(url, d) for d in allowed_domains
        ):
            where = "redirected to" if hop else "URL"
            raise PermanentSourceError(
                f"{where} {_safe_url(url)} is outside the catalog's domains "
                f"({', '.join(allowed_domains)})"
            )
        return self.check_url(url)

    def _request(
        self,
        method: str,
        url: str,
        body: bytes | None,
        allowed_domains: Sequence[str] | None,
        headers: Mapping[str, str] | None,
    ) -> Response:
        started = time.monotonic()
        send_headers = {"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"}
        send_headers.update(headers or {})
        for hop in range(self.max_redirects + 1):
            pinned = self._check_hop(url, allowed_domains, hop)
            token = _PINNED.set(pinned)
            try:
                raw = self.session.request(
                    method,
                    url,
                    data=body,
                    headers=send_headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                    stream=True,
                )
            except requests.Timeout as exc:
                raise TransientSourceError(f"timeout fetching {_safe_url(url)}") from exc
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                raise TransientSourceError(f"connection error fetching {_safe_url(url)}") from exc
            except requests.RequestException as exc:
                raise PermanentSourceError(f"cannot fetch {_safe_url(url)}: {exc}") from exc
            finally:
                _PINNED.reset(token)
            with raw:
                if raw.status_code in REDIRECT_STATUSES and raw.headers.get("Location"):
                    url = urljoin(url, raw.headers["Location"])
                    if raw.status_code == 303 or (
                        raw.status_code in (301, 302) and method == "POST"
                    ):
                        method, body = "GET", None
                    continue
                self._raise_for_status(raw, url)
                content = self._read_body(raw, url, started)
                log.debug(
                    "%s %s -> %s (%d bytes)", method, _safe_url(url), raw.status_code, len(content)
                )
                return Response(
                    status=raw.status_code,
                    url=url,
                    headers={k.lower(): v for k, v in raw.headers.items()},
                    text=_decode(content, raw.headers.get("Content-Type", "")),
                    content=content,
                )
        raise PermanentSourceError(
            f"more than {self.max_redirects} redirects from {_safe_url(url)}"
        )

    def _raise_for_status(self, raw: requests.Response, url: str) -> None:
        status = raw.status_code
        where = _safe_url(url)
        if status == 429:
            raise TransientSourceError(
                f"upstream throttled us (429) at {where}",
                retry_after=parse_retry_after(raw.headers.get("Retry-After")),
                status=429,
            )
        if status >= 500 or status == 408:
            raise TransientSourceError(
                f"upstream error {status} at {where}",
                retry_after=parse_retry_after(raw.headers.get("Retry-After")),
                status=status,
            )
        if status in (404, 410):
            raise HttpStatusError(f"not found ({status}) at {where}", status)
        if status >= 300:
            raise HttpStatusError(f"upstream answered {status} at {where}", status)

    def _read_body(self, raw: requests.Response, url: str, started: float) -> bytes:
        declared = raw.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise PermanentSourceError(
                f"response from {_safe_url(url)} is {declared} bytes, over the {self.max_bytes} cap"
            )
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in raw.iter_content(chunk_size=65536):
                size += len(chunk)
                if size > self.max_bytes:
                    raise PermanentSourceError(
                        f"response from {_safe_url(url)} exceeds the {self.max_bytes}-byte cap"
                    )
                if time.monotonic() - started > self.deadline:
                    raise TransientSourceError(f"timeout reading {_safe_url(url)}")
                chunks.append(chunk)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise TransientSourceError(f"connection lost reading {_safe_url(url)}") from exc
        except requests.Timeout as exc:
            raise TransientSourceError(f"timeout reading {_safe_url(url)}") from exc
        return b"".join(chunks)
