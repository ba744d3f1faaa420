"""Every schema.org ItemAvailability value and the spellings shops use for them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.availability import IN_STOCK, STATES, Availability, availability_from, in_stock_of
from sources.jsonld import parse_page
from sources.values import in_stock_from

# No example database left on disk; no deadline (a loaded machine is not a failure).
_EXAMPLES = settings(database=None, deadline=None)

# schema.org's ItemAvailability members, and the state each one maps to.
SCHEMA_ORG: dict[str, Availability] = {
    "BackOrder": "backorder",
    "Discontinued": "discontinued",
    "InStock": "in_stock",
    "InStoreOnly": "in_store_only",
    "LimitedAvailability": "limited",
    "MadeToOrder": "made_to_order",
    "OnlineOnly": "online_only",
    "OutOfStock": "out_of_stock",
    "PreOrder": "preorder",
    "PreSale": "presale",
    "Reserved": "reserved",
    "SoldOut": "sold_out",
}
PREFIXES = ["", "https://schema.org/", "http://schema.org/", "//schema.org/", "schema:"]


def test_every_item_availability_value_has_a_state_and_every_state_a_value() -> None:
    assert sorted(SCHEMA_ORG.values()) == sorted(STATES)
    assert set(IN_STOCK) == set(STATES)


@_EXAMPLES
@given(
    name=st.sampled_from(sorted(SCHEMA_ORG)),
    prefix=st.sampled_from(PREFIXES),
    case=st.sampled_from([str, str.lower, str.upper, str.swapcase]),
)
def test_any_prefix_and_any_case_give_the_same_state(
    name: str, prefix: str, case: Callable[[str], str]
) -> None:
    value = case(prefix + name)
    assert availability_from(value) == SCHEMA_ORG[name]
    assert in_stock_from(value) is IN_STOCK[SCHEMA_ORG[name]]


@_EXAMPLES
@given(st.one_of(st.text(max_size=40), st.integers(), st.booleans(), st.none()))
def test_anything_maps_into_the_closed_set_or_to_none(value: object) -> None:
    state = availability_from(value)
    assert state is None or state in STATES
    assert in_stock_of(state) is (None if state is None else IN_STOCK[state])


@pytest.mark.parametrize(
    ("value", "state"),
    [
        ("in stock", "in_stock"),
        ("instock", "in_stock"),
        ("oos", "out_of_stock"),
        ("out of stock", "out_of_stock"),
        ("IN_STOCK", "in_stock"),
        ("pre-order", "preorder"),
        ("available for order", "backorder"),
        ("Sold Out", "sold_out"),
        (True, "in_stock"),
        (False, "out_of_stock"),
        ("maybe", None),
    ],
)
def test_open_graph_and_page_data_spellings(value: object, state: str | None) -> None:
    assert availability_from(value) == state


@pytest.mark.parametrize("name", sorted(SCHEMA_ORG))
def test_each_state_reaches_the_record(name: str) -> None:
    html = (
        '<script type="application/ld+json">{"@type": "Product", "name": "X", '
        f'"offers": {{"price": "3.00", "availability": "//schema.org/{name}"}}}}</script>'
    )
    record = parse_page(html)
    assert record.availability == SCHEMA_ORG[name] == record.offers[0].availability
    assert record.in_stock is IN_STOCK[SCHEMA_ORG[name]]
