"""The politeness key of a URL: the host and port the connection will use."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit


# A pure function of the string, and a job's first host is asked for it three times.
@functools.lru_cache(maxsize=4096)
def host_key(url: str) -> str:
    """`host:port`, the host in the ASCII form a connection names it (IDNA 2008 / UTS 46,
    as urllib3 does), so `straße.de` and `xn--strae-oqa.de` are one host, not two."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if host and not host.isascii():
        try:
            import idna  # requests' own dependency: the encoding its connections use

            host = idna.encode(host, uts46=True).decode("ascii")
        except Exception:  # not encodable: the connection will fail; the key just must exist
            host = host.encode("ascii", "backslashreplace").decode("ascii")
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or (443 if parts.scheme.lower() == "https" else 80)
    return f"{host}:{port}"
