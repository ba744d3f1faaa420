"""`freshet demo`: a demo organization on the free plan, a key, and simulator catalogs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from freshet import accounts, monitors

DEMO_ORG = "demo"
DEMO_PRODUCT = "/shops/demo/products/linen-shirt"


def simulator_catalogs(simulator_url: str) -> list[dict[str, Any]]:
    host = urlsplit(simulator_url).netloc
    return [
        {"slug": "demo-walmart", "source": "walmart", "domains": [f"{host}/walmart"]},
        {"slug": "demo-shopify", "source": "shopify", "domains": [f"{host}/shops/demo"]},
        {"slug": "demo-jsonld", "source": "jsonld", "domains": [f"{host}/sites/demo"]},
    ]


def seed_demo(
    conn: Connection, simulator_url: str, secrets_keys: tuple[str, ...] = ()
) -> dict[str, Any]:
    accounts.create_org(conn, DEMO_ORG, "free", exist_ok=True, secrets_keys=secrets_keys)
    cats = simulator_catalogs(simulator_url)
    for c in cats:
        accounts.create_catalog(conn, c["slug"], c["source"], c["domains"], exist_ok=True)
        accounts.grant(conn, DEMO_ORG, c["slug"])
    key, _ = accounts.create_key(conn, DEMO_ORG, live=True, label="demo")
    org_id = accounts.org_id_by_name(conn, DEMO_ORG)
    shopify = next(c for c in accounts.list_catalogs(conn) if c["slug"] == "demo-shopify")
    monitor_id = monitors.ensure_demo(
        conn, org_id, shopify, f"{simulator_url.rstrip('/')}{DEMO_PRODUCT}", "demo-linen-shirt"
    )
    return {
        "monitor_id": str(monitor_id),
        "org": DEMO_ORG,
        "plan": "free",
        "api_key": key,
        "catalogs": cats,
        "simulator_url": simulator_url,
    }


def curl_commands(api_url: str, demo: dict[str, Any]) -> list[str]:
    auth = f'-H "Authorization: Bearer {demo["api_key"]}"'
    sim = demo["simulator_url"].rstrip("/")
    j = '-H "Content-Type: application/json"'
    return [
        f'curl -s {auth} {j} -d \'{{"asin": "B08N5WRWNW"}}\' {api_url}/api/v1/reviews/refresh',
        f"curl -s {auth} {api_url}/api/v1/jobs/<jobId>",
        f"curl -s {auth} '{api_url}/api/v1/reviews?asin=B08N5WRWNW'",
        f"curl -s {auth} {api_url}/v1/products/19667262713",
        f"curl -s -X POST {auth} {api_url}/v1/products/19667262713/refresh",
        f'curl -s {auth} {j} -d \'{{"targets": [{{"catalog": "demo-shopify", "url": '
        f'"{sim}/shops/demo/products/linen-shirt"}}]}}\' {api_url}/v1/products/refresh',
        f"curl -s {auth} {api_url}/v1/usage",
        "# a monitor watches linen-shirt; beat takes its baseline within ~10 s, then",
        "# provoke an event: drop its price in the simulator, check now, read the events",
        f'curl -s -X PUT {j} -d \'{{"{DEMO_PRODUCT}": {{"price": 9.5}}}}\' {sim}/_sim/overrides',
        f"curl -s -X POST {auth} {api_url}/v1/monitors/{demo['monitor_id']}/run",
        f"curl -s {auth} '{api_url}/v1/events?monitor={demo['monitor_id']}'",
        f"curl -s {auth} {api_url}/v1/monitors/{demo['monitor_id']}",
    ]
