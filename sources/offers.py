"""schema.org offers: every `Offer` of a Product (nested in `AggregateOffer`s, on variants,
around an `itemOffered`), each with the price a buyer pays, and the one a buyer gets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sources.availability import Availability, availability_from, in_stock_of
from sources.prices import currency_code, currency_from, parse_price
from sources.record import Offer
from sources.structured import JsonObject, types_of
from sources.values import SCHEMA_PREFIX, clean_text, name_of

_LIST_PRICE_TYPES = frozenset({"listprice", "strikethroughprice", "msrp", "srp", "regularprice"})
_SALE_PRICE_TYPES = frozenset({"saleprice", "specialprice"})
_GTIN_KEYS = ("gtin14", "gtin13", "gtin12", "gtin8", "gtin")
_MAX_OFFERS = 200


@dataclass
class PricedOffer:
    offer: Offer
    msrp: float | None = None  # the list / strikethrough price beside what is paid
    unreadable: bool = False  # a price was stated but is no price (NaN, -5, 1e15, "call us")

    @property
    def useful(self) -> bool:
        """Worth keeping in a record's offers: a price, or a stock state with no price."""
        offer = self.offer
        return offer.price is not None or (offer.availability is not None and not self.unreadable)


def _objects(value: Any) -> list[JsonObject]:
    items = value if isinstance(value, list) else [value]
    return [o for o in items[:_MAX_OFFERS] if isinstance(o, dict)]


def _currency(node: JsonObject) -> str | None:
    return currency_code(node.get("priceCurrency")) or currency_from(node.get("price"))


def _prices(node: JsonObject, currency: str | None) -> tuple[float | None, float | None]:
    """(what a buyer pays, the list price beside it) from `price` and `priceSpecification`."""
    price = parse_price(node.get("price"), currency)
    listed: list[float] = []
    sales: list[float] = []
    plain: list[float] = []
    for spec in _objects(node.get("priceSpecification")):
        amount = parse_price(spec.get("price"), currency_code(spec.get("priceCurrency")))
        if amount is None:
            continue
        kind = SCHEMA_PREFIX.sub("", str(spec.get("priceType") or "")).lower()
        (
            listed if kind in _LIST_PRICE_TYPES else sales if kind in _SALE_PRICE_TYPES else plain
        ).append(amount)
    stated = price
    if sales:
        price = min(sales)
    elif price is None and plain:
        price = min(plain)
    elif price is not None and plain and price in listed and min(plain) < price:
        price = min(plain)  # `price` repeats the strikethrough price; the spec has the sale
    if price is None and "aggregateoffer" in types_of(node):
        price = parse_price(node.get("lowPrice"), currency)
    higher = [p for p in [*listed, stated] if p is not None and price is not None and p > price]
    return price, max(higher, default=None)


def _condition(value: Any) -> str | None:
    text = SCHEMA_PREFIX.sub("", clean_text(name_of(value) or value) or "").lower()
    return text.removesuffix("condition").strip() or None


def parse_offer(node: JsonObject, parent_currency: str | None = None) -> PricedOffer:
    currency = _currency(node) or parent_currency
    for spec in _objects(node.get("priceSpecification")):
        currency = currency or currency_code(spec.get("priceCurrency"))
    price, msrp = _prices(node, currency)
    shipping = node.get("shippingDetails")
    shipping = shipping[0] if isinstance(shipping, list) and shipping else shipping
    rate = shipping.get("shippingRate") if isinstance(shipping, dict) else None
    seller = node.get("seller")
    state = availability_from(node.get("availability"))
    gtin = next((clean_text(node.get(k)) for k in _GTIN_KEYS if clean_text(node.get(k))), None)
    offer = Offer(
        seller_id=clean_text(seller.get("@id") or seller.get("identifier"))
        if isinstance(seller, dict)
        else None,
        seller_name=name_of(seller),
        price=price,
        currency=currency,
        condition=_condition(node.get("itemCondition")),
        in_stock=in_stock_of(state),
        shipping_price=parse_price(rate.get("value"), currency) if isinstance(rate, dict) else None,
        availability=state,
        sku=clean_text(node.get("sku")),
        gtin=gtin,
        mpn=clean_text(node.get("mpn")),
    )
    stated = node.get("price", node.get("lowPrice"))
    unreadable = price is None and stated not in (None, "", {}, [])
    return PricedOffer(offer, msrp, unreadable)


def _flatten(node: JsonObject, parent_currency: str | None, depth: int = 0) -> list[PricedOffer]:
    """An offer, or the offers an AggregateOffer holds (its own price when they have none)."""
    own = parse_offer(node, parent_currency)
    nested = _objects(node.get("offers")) if depth < 3 else []
    if not nested:
        return [own]
    inner = [p for sub in nested for p in _flatten(sub, own.offer.currency, depth + 1)]
    for priced in inner:  # what the aggregate says holds for each offer it does not contradict
        priced.offer.availability = priced.offer.availability or own.offer.availability
        priced.offer.in_stock = in_stock_of(priced.offer.availability)
        priced.offer.condition = priced.offer.condition or own.offer.condition
    if any(p.offer.price is not None for p in inner) or own.offer.price is None:
        return inner
    if own.offer.availability is None:
        own.offer.availability = best_availability([p.offer for p in inner])
        own.offer.in_stock = in_stock_of(own.offer.availability)
    return [own]


def product_offers(
    product: JsonObject, parent_offer: JsonObject | None, depth: int = 0
) -> list[PricedOffer]:
    """Every offer of a product, in page order: its own, else its variants', else the
    Offer it is the `itemOffered` of."""
    raw = _objects(product.get("offers"))
    if raw:
        return [p for node in raw for p in _flatten(node, None)]
    found: list[PricedOffer] = []
    for variant in _objects(product.get("hasVariant")) if depth < 2 else []:
        for priced in product_offers(variant, None, depth + 1):
            priced.offer.sku = priced.offer.sku or clean_text(variant.get("sku"))
            found.append(priced)
    if not found and parent_offer is not None:
        found = _flatten({k: v for k, v in parent_offer.items() if k != "itemOffered"}, None)
    return found


def best_availability(offers: list[Offer]) -> Availability | None:
    """The most available state among offers (for an aggregate that states none)."""
    states = [o.availability for o in offers if o.availability is not None]
    buyable = [s for s in states if in_stock_of(s)]
    return next(iter(buyable or states), None)


def _rank(offer: Offer) -> tuple[int, int, float]:
    stock = 0 if offer.in_stock else 1 if offer.in_stock is None else 2
    new = 0 if offer.condition in (None, "new") else 1
    return stock, new, offer.price if offer.price is not None else float("inf")


def choose(offers: list[Offer]) -> Offer | None:
    """The offer a buyer gets: available before unavailable, new before used or
    refurbished, then the lowest price; offers with a price before those without."""
    priced = [o for o in offers if o.price is not None]
    return min(priced or offers, key=_rank, default=None)
