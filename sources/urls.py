"""URL helpers shared by the sources: catalog-domain matching and normalization."""

from __future__ import annotations

import functools
from urllib.parse import unquote, urlsplit, urlunsplit

import idna

DEFAULT_PORTS = {"http": 80, "https": 443}


@functools.lru_cache(maxsize=4096)  # a batch of 500 targets names a handful of hosts
def _authority(netloc: str) -> tuple[str | None, int | None, str | None, str | None]:
    """(hostname, port, username, password) of a URL's netloc, as urlsplit's result
    computes them (each property parses the netloc again), once per netloc. A bad port
    raises ValueError, as the property does."""
    parts = urlsplit("//" + netloc)
    return parts.hostname, parts.port, parts.username, parts.password


def is_http_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
        return parts.scheme.lower() in DEFAULT_PORTS and bool(_authority(parts.netloc)[0])
    except ValueError:
        return False


@functools.lru_cache(maxsize=4096)  # a batch of 500 targets names a handful of hosts
def ascii_host(host: str) -> str:
    """`host` in the ASCII form requests connects to (IDNA-2008 with UTS-46 mapping), so a
    name written in Unicode compares equal to its `xn--` form; unchanged if not valid IDNA."""
    if host.isascii():
        return host.lower()
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return host.lower()


@functools.lru_cache(maxsize=4096)
def _strip_www(host: str) -> str:
    host = ascii_host(host).rstrip(".")
    return host[4:] if host.startswith("www.") else host


def _remove_dot_segments(path: str) -> str:
    # Resolve "." and ".." as a server would, so "/shops/demo/../other" cannot pass as
    # being under "/shops/demo".
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(out) > 1:
                out.pop()
        elif segment != ".":
            out.append(segment)
    result = "/".join(out)
    if path.endswith(("/.", "/..")):
        result += "/"
    return result if result.startswith("/") else "/" + result


@functools.lru_cache(maxsize=1024)  # catalog domains: few, read for every target
def split_domain(domain: str) -> tuple[str, int | None, str]:
    """Split a catalog domain `HOST[:PORT][/PATH]` into (host, port, path prefix)."""
    domain = domain.strip()
    if "://" in domain:
        domain = domain.split("://", 1)[1]
    parts = urlsplit("//" + domain)
    host = parts.hostname or ""
    return host.lower(), parts.port, parts.path.rstrip("/")


def url_matches_domain(url: str, domain: str) -> bool:
    """Whether `url` lies inside the catalog domain `HOST[:PORT][/PATH]`.

    Host is case-insensitive, tolerates `www.` either way and admits subdomains; a port,
    when the domain names one, must match (otherwise the scheme's default port is
    required); a path prefix matches on segment boundaries only.
    """
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host, port, _, _ = _authority(parts.netloc)
        d_host, d_port, d_path = split_domain(domain)
    except ValueError:
        return False
    if scheme not in DEFAULT_PORTS or not host or not d_host:
        return False
    host, d_host = _strip_www(host), _strip_www(d_host)
    if host != d_host and not host.endswith("." + d_host):
        return False
    effective_port = port if port is not None else DEFAULT_PORTS[scheme]
    if d_port is not None:
        if effective_port != d_port:
            return False
    elif effective_port != DEFAULT_PORTS[scheme]:
        return False
    if not d_path:
        return True
    path = _remove_dot_segments(unquote(parts.path or "/"))
    return path == d_path or path.startswith(d_path + "/")


def normalize_url(url: str) -> str:
    """Lowercase scheme and host, drop fragment and default port, strip a trailing slash
    (except the root); the query is kept as is."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    hostname, port, username, password = _authority(parts.netloc)
    host = (hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{port}"
    if username:
        userinfo = username + (f":{password}" if password else "")
        netloc = f"{userinfo}@{netloc}"
    path = parts.path or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def domain_of(base_url: str) -> str:
    """The catalog-domain form (`HOST[:PORT][/PATH]`) of a base URL, for allowed_domains."""
    parts = urlsplit(base_url)
    netloc = (parts.hostname or "").lower()
    if parts.port is not None:
        netloc += f":{parts.port}"
    return netloc + parts.path.rstrip("/")
