"""An organization's per-minute windows, named once: every submission counts against
`submit`; a force refresh also counts against `force`."""

from __future__ import annotations

from freshet.accounts.tenants import Principal
from guards import RateWindow


def submit_window(principal: Principal) -> RateWindow:
    return RateWindow(f"org:{principal.org_id}:submit", principal.plan.requests_per_minute)


def force_window(principal: Principal) -> RateWindow:
    return RateWindow(f"org:{principal.org_id}:force", principal.plan.force_refresh_per_minute)
