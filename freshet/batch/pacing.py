"""How fast one upstream host may be asked for batch targets."""

from __future__ import annotations

from urllib.parse import urlsplit

from freshet.runtime import Runtime

# The politeness guard spaces admissions; arrival at the upstream jitters by a few ms after
# that (claim transaction, thread scheduling; tens of ms on a loaded host), so spacing exactly
# at the rate could let an upstream's 1-second window see one request too many. 20% headroom
# keeps it under even when arrivals bunch by up to a fifth of the spacing.
POLITENESS_HEADROOM = 0.8


def polite_rate(rt: Runtime, catalog_rate: float | None) -> float:
    """Requests per second the catalog's host may get (0: unlimited), headroom applied."""
    rate = rt.settings.politeness_per_second if catalog_rate is None else catalog_rate
    return max(rate, 0.0) * POLITENESS_HEADROOM


def host_of(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return f"{(parts.hostname or '').lower()}:{port}"
