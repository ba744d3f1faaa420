from __future__ import annotations

from collections.abc import Callable

import pytest

from sources.record import ParseError, PermanentSourceError
from sources.walmart import item_url, parse_page


def test_item_url() -> None:
    assert (
        item_url("https://www.walmart.com/", "19667262713")
        == "https://www.walmart.com/ip/19667262713"
    )
    with pytest.raises(PermanentSourceError):
        item_url("https://www.walmart.com", "abc")


def test_item_page_reads_the_product_not_the_sponsored_items(page: Callable[[str], str]) -> None:
    record = parse_page(page("walmart_item.html"), url="https://www.walmart.com/ip/19667262713")
    assert record.item_id == "19667262713"
    assert record.title == "Cooks Essentials 12-in-1 Electric Pressure Cooker 6 QT, Stainless Steel"
    assert (record.upc, record.ean, record.gtin) == ("086279195869", None, "00086279195869")
    assert (record.mpn, record.model, record.brand) == ("EP-PC8", "EP-PC8", "Cooks Essentials")
    assert (record.current_price, record.buybox_price, record.msrp) == (49.0, 49.0, 79.99)
    assert record.currency == "USD" and record.in_stock is True
    assert record.weight_lbs == 14.2
    assert (
        record.dimensions.height_in,
        record.dimensions.width_in,
        record.dimensions.length_in,
    ) == (13.4, 12.6, 13.0)
    assert record.seller_id == "F55CDC31AB754BB68FE0B39041159D63"
    assert (record.average_rating, record.review_count) == (4.3, 1247)
    assert record.categories == ["Kitchen", "Small Appliances", "Pressure Cookers"]
    assert record.description.endswith("inner pot & 14 safety features")
    assert record.image_url.startswith("https://i5.walmartimages.com/seo/Cooks-Essentials")
    assert [o.seller_name for o in record.offers] == ["Walmart", "Deal Harbor", "Bargain Barn"]
    assert record.offers[0].is_buybox and record.offers[2].condition == "refurbished"
    assert record.secondary_offer_price == 52.1
    assert record.top_reviews[0].title == "Dinner in 30 minutes"
    assert record.top_reviews[0].date == "2024-01-06"
    assert "Instant Pot" not in repr(record) and "5127833912" not in repr(record)


def test_page_without_next_data_falls_back_to_json_ld(page: Callable[[str], str]) -> None:
    record = parse_page(page("walmart_jsonld_only.html"))
    assert record.source == "walmart"
    assert record.item_id == "55512345"
    assert (record.current_price, record.in_stock) == (64.97, False)
    assert (record.ean, record.upc, record.gtin) == (
        "0012345678905",
        "012345678905",
        "00012345678905",
    )


def test_bot_check_page_is_a_parse_error(page: Callable[[str], str]) -> None:
    with pytest.raises(ParseError, match="captcha"):
        parse_page(page("walmart_blocked.html"))


def test_page_without_product_is_a_parse_error(page: Callable[[str], str]) -> None:
    with pytest.raises(ParseError):
        parse_page(page("jsonld_no_product.html"))


def test_broken_next_data_without_json_ld_is_a_parse_error() -> None:
    html = (
        '<html><body><script id="__NEXT_DATA__" type="application/json">'
        '{"props": {"pagePr</script></body></html>'
    )
    with pytest.raises(ParseError):
        parse_page(html)


def test_provenance_names_the_page_data_and_what_json_ld_filled(
    page: Callable[[str], str],
) -> None:
    record = parse_page(page("walmart_item.html"))
    assert record.provenance["current_price"] == "next_data"
    assert record.provenance["in_stock"] == "next_data"
    assert (record.availability, record.offers[0].availability) == ("in_stock", "in_stock")
    filled_from_json_ld = {k for k, v in record.provenance.items() if v == "jsonld"}
    assert filled_from_json_ld == {"sku"}  # the page data has no sku; the JSON-LD has


def test_json_ld_only_page_says_so(page: Callable[[str], str]) -> None:
    record = parse_page(page("walmart_jsonld_only.html"))
    assert set(record.provenance.values()) == {"jsonld"}
    assert record.provenance["item_id"] == "jsonld"
