"""The schema.org graph of a page (JSON-LD blocks and microdata), walked whole: every
node with how it was reached, `@id` references resolved, and the page's own Product picked
from among related products, carousels, reviews and breadcrumbs."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import extruct
import jstyleson
from extruct.jsonld import JsonLdExtractor
from lxml.html import HtmlElement

from sources.page_signals import PageSignals, normalize_url
from sources.values import clean_text

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]
Origin = Literal["jsonld", "microdata"]
PRODUCT_TYPES = frozenset(
    {"product", "productgroup", "individualproduct", "productmodel", "someproducts", "vehicle"}
)
_TYPE_PREFIX = re.compile(r"^(?:(?:https?:)?//(?:www\.)?schema\.org/|schema:)", re.I)
# Keys under which another product than the page's own is described.
_RELATED_KEYS = frozenset(
    {
        "issimilarto",
        "isrelatedto",
        "isaccessoryorsparepartfor",
        "isconsumablefor",
        "isvariantof",
        "hasvariant",
        "itemlistelement",
        "relatedlink",
        "isbasedon",
        "predecessorof",
        "successorof",
        "model",
    }
)
# A product reached through one of these is the other one (isAccessoryOrSparePartFor
# points from the accessory to the product it fits, which may well be the page's own).
_NAMING_KEYS = frozenset({"issimilarto", "isrelatedto", "itemlistelement"})
_RELATED_WORDS = re.compile(r"related|similar|accessor|recommend|upsell|crosssell|carousel|bundle")
_MAX_DEPTH = 20
_MAX_NODES = 5_000


@dataclass
class Node:
    data: JsonObject
    origin: Origin
    index: int  # order of first appearance on the page
    related: bool = False  # reached only as another product's relative or a list entry
    main_entity: bool = False  # a WebPage's mainEntity
    reviewed: bool = False  # reached only as a Review's itemReviewed
    named_as_related: bool = False  # some product calls it similar, an accessory, ...
    parent_offer: JsonObject | None = None  # the Offer whose itemOffered this is


def types_of(data: JsonObject) -> set[str]:
    """`@type` names lower-cased, prefix-free: "schema:Product", ["Product", "Thing"]."""
    raw = data.get("@type", data.get("type"))
    names = raw if isinstance(raw, list) else [raw]
    return {_TYPE_PREFIX.sub("", t).strip().lower() for t in names if isinstance(t, str)}


def is_product(data: JsonObject) -> bool:
    return bool(types_of(data) & PRODUCT_TYPES)


def load_block(script: HtmlElement) -> list[Any]:
    """Strict JSON (through extruct) first, then the repairs real shops make necessary."""
    try:
        return list(JsonLdExtractor().extract_items(script))
    except (ValueError, RecursionError):
        pass
    text = re.sub(r"^\s*(?:<!--|<!\[CDATA\[)|(?:-->|\]\]>)\s*$", "", script.text_content())
    text = text.replace("\\'", "'")
    try:
        data = jstyleson.loads(text, strict=False)
    except (ValueError, RecursionError):
        try:  # trailing commas and comments were not the problem; a stray control char?
            data = json.loads(re.sub(r"[\x00-\x1f]", " ", text), strict=False)
        except (ValueError, RecursionError):
            log.debug("unparseable JSON-LD block skipped")
            return []
    return data if isinstance(data, list) else [data]


def _blocks(tree: HtmlElement, url: str | None) -> Iterator[tuple[Any, Origin]]:
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() == "application/ld+json":
            yield load_block(script), "jsonld"
    try:
        micro = extruct.extract(tree, base_url=url, syntaxes=["microdata"], uniform=True)
        yield micro.get("microdata", []), "microdata"
    except Exception:  # extruct's microdata walker can trip on odd markup; JSON-LD may suffice
        log.debug("microdata extraction failed", exc_info=True)


class _Walker:
    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {}
        self.by_id: dict[str, JsonObject] = {}

    def index_ids(self, data: Any, depth: int = 0) -> None:
        if depth > _MAX_DEPTH or len(self.by_id) > _MAX_NODES:
            return
        if isinstance(data, list):
            for item in data:
                self.index_ids(item, depth + 1)
        elif isinstance(data, dict):
            ref = data.get("@id")
            if isinstance(ref, str) and len(data) > 1:
                known = self.by_id.get(ref)
                if known is None or len(data) > len(known):
                    self.by_id[ref] = data
            for value in data.values():
                self.index_ids(value, depth + 1)

    def resolve(self, value: Any) -> Any:
        """The node a bare `{"@id": ...}` reference names, or the value itself."""
        if not isinstance(value, dict):
            return value
        ref = value.get("@id")
        if isinstance(ref, str) and set(value) <= {"@id", "@type"} and ref in self.by_id:
            return self.by_id[ref]
        return value

    def walk(
        self,
        data: Any,
        origin: Origin,
        *,
        depth: int = 0,
        related: bool = False,
        key: str = "",
        parent: JsonObject | None = None,
    ) -> None:
        if depth > _MAX_DEPTH or len(self.nodes) > _MAX_NODES:
            return
        if isinstance(data, list):
            for item in data:
                self.walk(item, origin, depth=depth + 1, related=related, key=key, parent=parent)
            return
        if not isinstance(data, dict):
            return
        data = self.resolve(data)
        node = self.nodes.get(id(data))
        main = key == "mainentity"
        reviewed = key == "itemreviewed"
        named = key in _NAMING_KEYS or (
            key not in _RELATED_KEYS and bool(_RELATED_WORDS.search(key))
        )
        if node is not None:  # seen before: only learn more about how it is reached
            node.main_entity |= main
            node.related &= related and not main
            node.reviewed &= reviewed
            node.named_as_related |= named
            return
        node = Node(data, origin, len(self.nodes), related and not main, main, reviewed, named)
        if key == "itemoffered" and parent is not None and "offer" in "".join(types_of(parent)):
            node.parent_offer = parent
        self.nodes[id(data)] = node
        for child_key, value in list(data.items()):
            # References become the nodes they name, so readers of the graph see the data.
            if isinstance(value, dict):
                value = data[child_key] = self.resolve(value)
            elif isinstance(value, list):
                value = data[child_key] = [self.resolve(v) for v in value]
            lowered = child_key.lower()
            child_related = (
                node.related
                or lowered in _RELATED_KEYS
                or bool(_RELATED_WORDS.search(lowered))
                or ("itemlist" in types_of(data) and lowered not in ("mainentity",))
            )
            self.walk(
                value, origin, depth=depth + 1, related=child_related, key=lowered, parent=data
            )


def graph_nodes(tree: HtmlElement, url: str | None) -> list[Node]:
    """Every schema.org node on the page, JSON-LD before microdata, in page order."""
    blocks = list(_blocks(tree, url))
    walker = _Walker()
    for data, _ in blocks:
        walker.index_ids(data)
    for data, origin in blocks:
        walker.walk(data, origin)
    return sorted(walker.nodes.values(), key=lambda n: n.index)


def _name_match(name: Any, h1: str | None) -> float:
    text, heading = clean_text(name), h1
    if not text or not heading:
        return 0.0
    a, b = text.casefold(), heading.casefold()
    return 4.0 if a == b else 2.0 if (a in b or b in a) and min(len(a), len(b)) > 3 else 0.0


def _urls_of(data: JsonObject, base: str | None) -> set[str]:
    found = set()
    for key in ("url", "@id", "mainEntityOfPage"):
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("@id") or value.get("url")
        normalized = normalize_url(value, base) if isinstance(value, str) else None
        if normalized:
            found.add(normalized)
    return found


def has_offers(node: Node) -> bool:
    data = node.data
    return bool(data.get("offers") or data.get("hasVariant") or node.parent_offer)


def score(node: Node, signals: PageSignals) -> float:
    """How surely this Product is the page's own: URL, mainEntity, offers, the <h1>."""
    data = node.data
    page_urls = signals.urls()
    value = 8.0 * bool(page_urls & _urls_of(data, signals.url))
    value += 6.0 * node.main_entity + 4.0 * has_offers(node) + 2.0 * bool(data.get("name"))
    value += _name_match(data.get("name"), signals.h1)
    value -= 3.0 * node.reviewed + 0.5 * (node.origin == "microdata") + node.index * 0.001
    return value


def main_product(nodes: list[Node], signals: PageSignals) -> Node | None:
    """The page's own Product; related products and list entries never win."""
    candidates = [n for n in nodes if is_product(n.data) and not n.related]
    # A product another one names as its relative is one only when nothing else is left
    # (two products that call each other similar, say).
    own = [n for n in candidates if not n.named_as_related or n.main_entity] or candidates
    return max(own, key=lambda n: score(n, signals), default=None)


def twins(main: Node, nodes: list[Node]) -> list[Node]:
    """Other nodes describing the same product (the microdata beside the JSON-LD, a
    second block about it), for filling what the main one leaves out."""
    data = main.data

    def keys(d: JsonObject) -> set[str]:
        found = {f"id:{d['@id']}"} if isinstance(d.get("@id"), str) else set()
        for name in ("sku", "gtin13", "gtin", "mpn", "name"):
            text = clean_text(d.get(name))
            if text:
                found.add(f"{name}:{text.casefold()}")
        return found

    mine = keys(data)
    return [
        n
        for n in nodes
        if n is not main and is_product(n.data) and not n.related and keys(n.data) & mine
    ]
