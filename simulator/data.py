"""Deterministic synthetic products: every id hashes to the same base data, and prices
drift in steps of `drift_seconds` so history has something to show."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from typing import Any

ADJECTIVES = (
    "Compact",
    "Stainless",
    "Wireless",
    "Portable",
    "Ergonomic",
    "Deluxe",
    "Smart",
    "Classic",
    "Foldable",
    "Rechargeable",
    "Heavy-Duty",
    "Ultra-Slim",
    "Organic",
    "Vintage",
    "Modular",
)
NOUNS = (
    "Pressure Cooker",
    "Desk Lamp",
    "Bluetooth Speaker",
    "Water Bottle",
    "Backpack",
    "Coffee Grinder",
    "Office Chair",
    "Air Fryer",
    "Yoga Mat",
    "Headphones",
    "Blender",
    "Electric Kettle",
    "Power Bank",
    "Cutting Board",
    "Running Shoes",
    "Throw Blanket",
    "Tool Set",
    "Phone Case",
)
BRANDS = (
    "Cooks Essentials",
    "Northwind",
    "Acme",
    "Brightside",
    "Kestrel",
    "Lumen & Co",
    "Tidewater",
    "Fjord",
    "Oakhaven",
    "Zephyr",
    "Granite Peak",
    "Marlow's",
)
CATEGORIES = (
    ("Home", "Kitchen", "Small Appliances"),
    ("Electronics", "Audio", "Speakers"),
    ("Sports & Outdoors", "Fitness", "Yoga"),
    ("Office", "Furniture", "Chairs"),
    ("Home", "Bedding", "Blankets"),
    ("Tools", "Hand Tools", "Tool Sets"),
    ("Electronics", "Cell Phones", "Accessories"),
    ("Clothing", "Shoes", "Athletic"),
)
SELLERS = (
    ("F55CDC31AB754BB68FE0B39041159D63", "Walmart.com"),
    ("A1B2C3D4E5F60718293A4B5C6D7E8F90", "Deal Harbor"),
    ("0F1E2D3C4B5A69788796A5B4C3D2E1F0", "Prime Goods LLC"),
    ("9A8B7C6D5E4F30211203F4E5D6C7B8A9", "Bargain Barn"),
)


def rng(*parts: object) -> random.Random:
    """A generator seeded by the parts; str seeds are hashed with SHA-512, so stable."""
    return random.Random(":".join(map(str, parts)))


def gtin_check_digit(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


@dataclass(frozen=True)
class Item:
    key: str
    title: str
    brand: str
    base_price: float
    upc: str
    ean: str
    model: str
    rating: float
    rating_count: int
    weight_lbs: float
    length_in: float
    width_in: float
    height_in: float
    categories: tuple[str, ...]
    seller_id: str
    seller_name: str
    in_stock: bool
    image_id: str
    description: str


def make_item(seed: int, kind: str, ident: str) -> Item:
    r = rng(seed, kind, ident)
    adjective, noun, brand = r.choice(ADJECTIVES), r.choice(NOUNS), r.choice(BRANDS)
    upc_body = "0" + "".join(r.choice("0123456789") for _ in range(10))
    upc = upc_body + gtin_check_digit(upc_body)
    ean_body = r.choice(("400", "401", "590", "871")) + "".join(
        r.choice("0123456789") for _ in range(9)
    )
    model = f"{brand[:2].upper()}-{noun[:2].upper()}{r.randint(1, 999)}"
    seller_id, seller_name = r.choice(SELLERS) if r.random() < 0.4 else SELLERS[0]
    return Item(
        key=f"{kind}:{ident}",
        title=f"{brand} {adjective} {noun} {model}",
        brand=brand,
        base_price=round(r.uniform(5, 400)) - 0.01
        if r.random() < 0.7
        else round(r.uniform(5, 400), 2),
        upc=upc,
        ean=ean_body + gtin_check_digit(ean_body),
        model=model,
        rating=round(r.uniform(2.8, 4.9), 1),
        rating_count=r.choice((0, r.randint(1, 40), r.randint(40, 3000))),
        weight_lbs=round(r.uniform(0.2, 25), 1),
        length_in=round(r.uniform(2, 30), 1),
        width_in=round(r.uniform(2, 20), 1),
        height_in=round(r.uniform(1, 20), 1),
        categories=r.choice(CATEGORIES),
        seller_id=seller_id,
        seller_name=seller_name,
        in_stock=r.random() < 0.85,
        image_id="".join(r.choice("abcdef0123456789") for _ in range(16)),
        description=f"The {adjective.lower()} {noun.lower()} from {brand}. Built to last, "
        "easy to clean, "
        f"and backed by a two-year warranty.",
    )


def drifted_price(item: Item, drift_seconds: float, now: float | None = None) -> float:
    """The base price moved by up to ±15%, constant within each drift period."""
    if drift_seconds <= 0:
        return item.base_price
    period = int((time.time() if now is None else now) // drift_seconds)
    factor = 1 + rng(item.key, "drift", period).uniform(-0.15, 0.15)
    return max(0.99, round(item.base_price * factor, 2))


def format_price(value: float, decimal: str = ".", thousands: str = ",") -> str:
    """1299.0 -> "1,299.00" (or "1.299,00" with decimal="," and thousands=".")."""
    text = f"{value:,.2f}"
    return text.replace(",", "\0").replace(".", decimal).replace("\0", thousands)


def with_changes(item: Item, changes: dict[str, Any] | None) -> Item:
    """The item as an override says it is (in_stock, rating); a rating override on an item
    with no reviews gives it one, so the rating shows on the page."""
    if not changes:
        return item
    changed = replace(item, **changes)
    if "rating" in changes and changed.rating_count == 0:
        changed = replace(changed, rating_count=1)
    return changed
