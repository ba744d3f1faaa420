"""Stock states: every schema.org `ItemAvailability` value, and the spellings shops, Open
Graph and page data use for them, mapped onto one closed set (`STATES`)."""

from __future__ import annotations

import re
from typing import Any, Final, Literal, get_args

Availability = Literal[
    "in_stock",
    "out_of_stock",
    "limited",
    "online_only",
    "in_store_only",
    "made_to_order",
    "preorder",
    "presale",
    "backorder",
    "reserved",
    "sold_out",
    "discontinued",
]
# One state per schema.org ItemAvailability member (https://schema.org/ItemAvailability).
STATES: Final[tuple[Availability, ...]] = get_args(Availability)

# Whether a buyer can order the item now and have it from stock. Pre-order, pre-sale,
# back-order and reserved items are orderable, but not in stock: a monitor should report
# "back in stock" when they become so.
IN_STOCK: Final[dict[Availability, bool]] = {
    "in_stock": True,
    "limited": True,
    "online_only": True,
    "in_store_only": True,
    "made_to_order": True,
    "out_of_stock": False,
    "preorder": False,
    "presale": False,
    "backorder": False,
    "reserved": False,
    "sold_out": False,
    "discontinued": False,
}

_PREFIX = re.compile(r"^(?:(?:https?:)?//(?:www\.)?schema\.org/|schema:)", re.I)
_SEPARATORS = re.compile(r"[\s_\-]+")
# Keys are lower-cased with spaces, dashes and underscores removed.
_SPELLINGS: Final[dict[str, Availability]] = {
    "instock": "in_stock",
    "available": "in_stock",
    "availablenow": "in_stock",
    "true": "in_stock",
    "yes": "in_stock",
    "1": "in_stock",
    "outofstock": "out_of_stock",
    "oos": "out_of_stock",
    "unavailable": "out_of_stock",
    "notavailable": "out_of_stock",
    "false": "out_of_stock",
    "no": "out_of_stock",
    "0": "out_of_stock",
    "limitedavailability": "limited",
    "limitedstock": "limited",
    "lowstock": "limited",
    "limited": "limited",
    "onlineonly": "online_only",
    "instoreonly": "in_store_only",
    "madetoorder": "made_to_order",
    "preorder": "preorder",
    "pending": "preorder",  # Facebook's older catalog word for pre-order
    "presale": "presale",
    "backorder": "backorder",
    "backordered": "backorder",
    "availablefororder": "backorder",  # Facebook catalogs: ships in one to two weeks
    "reserved": "reserved",
    "soldout": "sold_out",
    "discontinued": "discontinued",
}


def availability_from(value: Any) -> Availability | None:
    """The stock state of a schema.org / Open Graph / page-data availability value.

    Takes `https://schema.org/InStock`, `//schema.org/InStock`, `schema:InStock`,
    `InStock`, `in stock`, `in_stock`, `PreOrder`, `oos`, booleans, any case; None when
    the value says nothing recognizable.
    """
    if isinstance(value, bool):
        return "in_stock" if value else "out_of_stock"
    if isinstance(value, list):
        return next((s for s in map(availability_from, value) if s), None)
    if isinstance(value, dict):
        return availability_from(value.get("@id") or value.get("name"))
    if not isinstance(value, str | int) or len(str(value)) > 200:
        return None
    key = _SEPARATORS.sub("", _PREFIX.sub("", str(value).strip())).lower()
    return _SPELLINGS.get(key)


def in_stock_of(state: Availability | None) -> bool | None:
    return None if state is None else IN_STOCK[state]
