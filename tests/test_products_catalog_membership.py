"""A product's catalog membership is stable (issue 12, item 11): a Walmart item looked up by
its item id and the same item refreshed through a catalog write one row whose catalog_id
never flips, so uuid lookups and {uuid} batch targets keep working for the catalog's users."""

from __future__ import annotations

from sqlalchemy import text

from freshet.products import Target, store_record
from sources.record import ProductRecord
from tests.factories import make_catalog, make_tenant

ITEM = "19667262713"


def _write(engine, catalog_id, url):
    record = ProductRecord(
        source="walmart", url=url, item_id=ITEM, title="A thing", current_price=9.99
    )
    target = Target("walmart", ITEM, url=url, catalog_id=catalog_id)
    with engine.begin() as conn:
        return store_record(conn, target, record, None)


def test_an_item_id_lookup_never_takes_a_product_out_of_its_catalog(client, engine, simulator):
    host = simulator.url.split("//", 1)[1]
    catalog_id = make_catalog(engine, "wm-shop", "walmart", [host])
    page = f"{simulator.url}/walmart/ip/{ITEM}"
    product_id = _write(engine, catalog_id, page)  # a batch refresh through the catalog
    member = make_tenant(engine, catalogs=["wm-shop"])
    assert client.get(f"/v1/products/{product_id}", headers=member.headers).status_code == 200
    for _ in range(3):  # another organization looks the same item up by its item id
        assert _write(engine, None, f"https://walmart.example/ip/{ITEM}") == product_id
        with engine.connect() as conn:
            row = conn.execute(text("SELECT catalog_id, url FROM products")).one()
        assert (row.catalog_id, row.url) == (catalog_id, page)
        resp = client.get(f"/v1/products/{product_id}", headers=member.headers)
        assert resp.status_code == 200, resp.get_data(as_text=True)
