"""The one HTTP client for all upstream traffic: timeouts, size cap, SSRF checks, and
HTTP failures mapped to transient or permanent source errors."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from sources.addresses import Target, allow_entry, approve, target_of
from sources.deadline import Deadline
from sources.http_errors import (
    HttpStatusError,
    not_http,
    parse_retry_after,
    raise_for_status,
)
from sources.pinning import CURRENT_HOP, Hop, PinningAdapter
from sources.record import (
    BlockedAddressError,
    PermanentSourceError,
    SourceError,
    TransientSourceError,
)
from sources.urls import url_matches_domain

__all__ = ["HttpClient", "HttpStatusError", "Response", "parse_retry_after"]

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "Freshet/0.1 (+https://github.com/freshet)"
# The environment variables requests consults for an http(s) request's proxies and CA bundle
# (urllib's getproxies_environment and requests' merge_environment_settings).
_ENVIRONMENT = (
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "REQUEST_METHOD",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHARSET_RE = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.I)


@dataclass
class Response:
    status: int
    url: str
    headers: dict[str, str] = field(default_factory=dict)  # keys lower-cased
    text: str = ""
    content: bytes = b""


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
    """GETs and POSTs to upstreams with SSRF protection, a total deadline per request and
    error mapping.

    `timeout` bounds each connect and each read; `total_timeout` (default three times
    `timeout`) bounds the whole request: connect, headers, body and every redirect hop.
    """

    def __init__(
        self,
        timeout: float = 10.0,
        user_agent: str = DEFAULT_USER_AGENT,
        max_bytes: int = 5_000_000,
        allow_private: bool = False,
        allowed_private_hosts: Iterable[str] = (),
        max_redirects: int = 5,
        session: requests.Session | None = None,
        total_timeout: float | None = None,
    ):
        self.timeout = timeout
        self.total_timeout = timeout * 3 if total_timeout is None else total_timeout
        self.user_agent = user_agent
        self.max_bytes = max_bytes
        self.allow_private = allow_private
        self.allowed_private_hosts = frozenset(
            allow_entry(h) for h in allowed_private_hosts if h.strip()
        )
        self.max_redirects = max_redirects
        if session is None:
            session = requests.Session()
            adapter = PinningAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self.session = session
        self._environment: dict[tuple[Any, ...], dict[str, Any]] = {}

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

        Returns the one address a connection for `url` may go to, keyed by (host, port)
        with the host as the connection will name it (UTS-46 ASCII)."""
        target = target_of(url)
        return {(target.host, target.port): approve(target, check=not self._private_ok(target))}

    def _private_ok(self, target: Target) -> bool:
        return (
            self.allow_private
            or (target.host, None) in self.allowed_private_hosts
            or (target.host, target.port) in self.allowed_private_hosts
        )

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
        send_headers = {"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"}
        send_headers.update(headers or {})
        with Deadline(self.total_timeout) as deadline:
            for hop in range(self.max_redirects + 1):
                self._check_deadline(deadline, url)
                prepared = self._prepare(method, url, body, send_headers)
                # Checked as prepared: the very URL (and host encoding) that is sent.
                pins = self._check_hop(prepared.url or url, allowed_domains, hop)
                raw = self._send(prepared, Hop(pins, deadline))
                with raw:
                    # As requests reads it: a UTF-8 Location (raw bytes on the wire) is
                    # a Unicode host name, which the next hop encodes and checks.
                    location = self.session.get_redirect_target(raw)
                    if raw.status_code in REDIRECT_STATUSES and location:
                        url = urljoin(url, location)
                        if raw.status_code == 303 or (
                            raw.status_code in (301, 302) and method == "POST"
                        ):
                            method, body = "GET", None
                        continue
                    if raw.status_code >= 300:  # the URL made safe to name only when it is named
                        raise_for_status(raw.status_code, raw.headers, _safe_url(url))
                    content = self._read_body(raw, url, deadline)
                    if log.isEnabledFor(logging.DEBUG):
                        log.debug(
                            "%s %s -> %s (%d bytes)",
                            method,
                            _safe_url(url),
                            raw.status_code,
                            len(content),
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

    def _prepare(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> requests.PreparedRequest:
        target_of(url)  # refuses what is no http(s) URL before requests sees it
        try:
            return self.session.prepare_request(
                requests.Request(method, url, data=body, headers=dict(headers))
            )
        except (requests.RequestException, ValueError, UnicodeError) as exc:
            raise BlockedAddressError(f"invalid URL {_safe_url(url)}: {exc}") from exc

    def _send(self, prepared: requests.PreparedRequest, hop: Hop) -> requests.Response:
        url = prepared.url or ""
        # Each connect and read waits at most `timeout`, and never past the deadline.
        wait = max(min(self.timeout, hop.deadline.remaining()), 0.001)
        token = CURRENT_HOP.set(hop)
        try:
            settings = self._environment_settings(url)
            return self.session.send(
                prepared, timeout=(wait, wait), allow_redirects=False, **settings
            )
        except SourceError:
            raise
        except requests.RequestException as exc:
            raise self._failure(exc, url, hop.deadline) from exc
        finally:
            CURRENT_HOP.reset(token)

    def _environment_settings(self, url: str) -> dict[str, Any]:
        """What the environment adds to a request for `url` (proxies, CA bundle), as requests
        works it out — remembered per scheme and host while the variables it reads keep
        their values, because working it out reads the whole environment each time."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, tuple(os.environ.get(k) for k in _ENVIRONMENT))
        found = self._environment.get(key)
        if found is None:
            if len(self._environment) >= 1024:
                self._environment.clear()
            found = dict(self.session.merge_environment_settings(url, {}, True, None, None))
            self._environment[key] = found
        return {k: dict(v) if isinstance(v, dict) else v for k, v in found.items()}

    def _check_deadline(self, deadline: Deadline, url: str) -> None:
        if deadline.passed():
            raise self._timed_out(url)

    def _timed_out(self, url: str) -> TransientSourceError:
        return TransientSourceError(
            f"timeout fetching {_safe_url(url)}: no complete answer within the "
            f"{self.total_timeout:g}s total deadline"
        )

    def _failure(self, exc: Exception, url: str, deadline: Deadline) -> SourceError:
        # After the deadline shut the socket, whatever broke is the deadline's doing.
        if deadline.passed():
            return self._timed_out(url)
        if isinstance(exc, requests.Timeout):
            return TransientSourceError(f"timeout fetching {_safe_url(url)}")
        if not_http(exc):
            return PermanentSourceError(f"{_safe_url(url)} did not answer in HTTP: {exc}")
        if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
            return TransientSourceError(f"connection error fetching {_safe_url(url)}")
        return PermanentSourceError(f"cannot fetch {_safe_url(url)}: {exc}")

    def _read_body(self, raw: requests.Response, url: str, deadline: Deadline) -> bytes:
        declared = raw.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise PermanentSourceError(
                f"response from {_safe_url(url)} is {declared} bytes, over the {self.max_bytes} cap"
            )
        chunks: list[bytes] = []
        size = 0
        try:
            # Decoded bytes are counted, so a gzip bomb meets the cap, not the memory limit.
            for chunk in raw.iter_content(chunk_size=65536):
                size += len(chunk)
                if size > self.max_bytes:
                    raise PermanentSourceError(
                        f"response from {_safe_url(url)} exceeds the {self.max_bytes}-byte cap"
                    )
                self._check_deadline(deadline, url)
                chunks.append(chunk)
        except requests.RequestException as exc:
            raise self._failure(exc, url, deadline) from exc
        # A body read until the connection closes looks complete when the deadline shut it.
        self._check_deadline(deadline, url)
        return b"".join(chunks)
