"""Where an upstream fetch may connect: the host name a connection will really use, the
addresses it resolves to, and which of those are refused (anything not publicly routable)."""

from __future__ import annotations

import functools
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from requests.exceptions import RequestException
from requests.models import PreparedRequest
from urllib3.util import parse_url

from sources.record import BlockedAddressError, PermanentSourceError, TransientSourceError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443}

# IANA special-purpose registries plus multicast and the reserved blocks. Listed rather
# than left to `is_global`, whose tables differ between Python releases (3.11 calls
# ::7f00:1, fec0::1 and 64:ff9b:1::1 global).
_BLOCKED_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link local, cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",
        "192.31.196.0/24",
        "192.52.193.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "192.175.48.0/24",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
    )
)
_BLOCKED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/8",  # unspecified, loopback, IPv4-compatible/-mapped/-translated, NAT64 local use
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments: Teredo, benchmarking, ORCHID
        "2001:db8::/32",
        "3fff::/20",  # documentation
        "5f00::/16",  # SRv6 SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link local
        "fec0::/10",  # site local (deprecated, still routed by some stacks)
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known prefix: IPv4 in the low 32 bits


@dataclass(frozen=True)
class Target:
    """What a connection for a URL is made to: `host` exactly as urllib3 hands it to the
    resolver (IDNA-2008/UTS-46 ASCII, lower case, no IPv6 brackets)."""

    scheme: str
    host: str
    port: int


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and reaches (NAT64, 6to4, Teredo, mapped)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or int(ip) >> 32 == 0:  # NAT64, or IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def is_blocked(ip: IPAddress) -> bool:
    """Whether `ip` is anything but a publicly routable unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return True
        if ip in _NAT64:  # carved out of ::/8: as good or bad as the IPv4 it translates to
            return is_blocked(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        embedded = embedded_ipv4(ip)
        if embedded is not None and is_blocked(embedded):
            return True
        if any(ip in net for net in _BLOCKED_V6):
            return True
    elif any(ip in net for net in _BLOCKED_V4):
        return True
    return not ip.is_global or ip.is_multicast


def pin_key(host: str) -> str:
    """The form of a host name two pins compare by (brackets off, lower case)."""
    host = host.lower()
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


@functools.lru_cache(maxsize=4096)  # a pure function of the string, asked twice per request
def target_of(url: str) -> Target:
    """Scheme, host and port a request for `url` connects to, computed by requests' own URL
    preparation (UTS-46 for non-ASCII names, not Python's IDNA-2003 codec, which turns
    `straße` into `strasse`) and urllib3's parser, which pick the connection's host."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:
        raise BlockedAddressError(f"invalid URL: {exc}") from exc
    if scheme not in DEFAULT_PORTS:
        raise BlockedAddressError(f"only http and https URLs are fetched, not {url[:80]!r}")
    prepared = PreparedRequest()
    try:
        prepared.prepare_url(url, None)
        parts = parse_url(prepared.url or "")
    except (RequestException, ValueError, UnicodeError) as exc:
        raise BlockedAddressError(f"invalid URL {url[:80]!r}: {exc}") from exc
    if not parts.host:
        raise BlockedAddressError(f"no host in URL {url[:80]!r}")
    return Target(scheme, pin_key(parts.host), parts.port or DEFAULT_PORTS[scheme])


def allow_entry(entry: str) -> tuple[str, int | None]:
    """An `allowed_private_hosts` entry (`HOST[:PORT]`) as (connection host, port or None)."""
    entry = entry.strip()
    port = urlsplit(f"//{entry}").port
    return target_of(f"http://{entry}/").host, port


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to; the host is already ASCII, so no codec re-encodes it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:  # a label over 63 characters
        raise PermanentSourceError(f"host {host[:80]} is not a valid name") from exc
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
            raise PermanentSourceError(f"host {host} does not resolve") from exc
        raise TransientSourceError(f"could not resolve {host}: {exc}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0])) for info in infos]
    if not addresses:
        raise PermanentSourceError(f"host {host} does not resolve")
    return addresses


def approve(target: Target, check: bool) -> str:
    """The address to connect to for `target`, after refusing any non-public one if `check`.

    A name with any blocked address is refused outright: which address a later lookup
    picks first is the attacker's to choose."""
    addresses = resolve(target.host, target.port)
    if check:
        for ip in addresses:
            if is_blocked(ip):
                raise BlockedAddressError(
                    f"refusing to fetch {target.host}: it resolves to a non-public address ({ip})"
                )
    return str(addresses[0])
