"""Amazon review pages (`/product-reviews/<ASIN>/`) parsed from their markup, in every
marketplace language, and followed page by page."""

from __future__ import annotations

import re
import threading
import unicodedata
from datetime import date
from urllib.parse import parse_qs, urljoin, urlsplit

from lxml import etree

from sources import amazon_locales as loc
from sources.http import HttpClient
from sources.record import ParseError, PermanentSourceError, Review, ReviewPage
from sources.urls import domain_of
from sources.values import parse_html_plain, parse_int, parse_number

ASIN_RE = re.compile(r"^[A-Z0-9]{10}$")
_ONE = {"one", "eine", "ein", "une", "un", "una", "uno", "een", "jedna", "en", "bir", "uma"}
# What any review page has: one of these data-hooks, or the review list's id.
_STRUCTURE_HOOKS = (
    "review",
    "product-link",
    "rating-out-of-text",
    "total-review-count",
    "cr-filter-info-review-rating-count",
)
# The queries long enough to want a name.
_BADGES = 'descendant::*/@class[contains(., "a-color-state") or contains(., "avp")]/..'
_SORT_CHOSEN = '/descendant::select[@id="sort-order-dropdown"]/option[@selected]/@value'
_STARS_CHOSEN = '/descendant::select[@id="star-count-dropdown"]/option[@selected]/@value'

_local = threading.local()


def _xpath(expr: str) -> etree.XPath:
    """`expr` compiled, once per thread (compiling is most of what a short query costs;
    lxml's compiled expressions are kept to one thread). Strings come back plain: nothing
    here asks a string for the element it came from.

    The queries reach elements through their attributes (`//*/@data-hook/..`, not
    `//*[@data-hook]`) and through the fewest steps (`/descendant::li`, not `//li`): the
    same elements in the same order, but libxml2 then tests a predicate only where the
    attribute is, not on every element of the page — which was half of what a review page
    cost to read."""
    cache: dict[str, etree.XPath] | None = getattr(_local, "xpaths", None)
    if cache is None:
        cache = _local.xpaths = {}
    found = cache.get(expr)
    if found is None:
        found = cache[expr] = etree.XPath(expr, smart_strings=False)
    return found


def _string(element: etree._Element) -> str:
    """All the element's text, as lxml.html's `text_content()` gives it."""
    text: str = _xpath("string()")(element)
    return text


class _Hooks:
    """The elements carrying each data-hook, in document order, found in one walk: calling
    it answers `.//*[@data-hook="…"]` under the root (its first element); `every` and `any`
    answer `//*[@data-hook="…"]` over the root's whole document (when built with
    `document=True`)."""

    def __init__(self, root: etree._Element, *, document: bool = False):
        found = _xpath("//*/@data-hook/.." if document else "descendant::*/@data-hook/..")(root)
        self._named = [(element.get("data-hook"), element) for element in found]
        self._names = {name for name, _ in self._named}
        # Walked backwards, so each name keeps the first element that carries it.
        self.first: dict[str, etree._Element] = {
            name: element for name, element in reversed(self._named) if element is not root
        }

    def __call__(self, *names: str) -> etree._Element | None:
        """The first element carrying the first of `names` found as its data-hook."""
        for name in names:
            found = self.first.get(name)
            if found is not None:
                return found
        return None

    def every(self, name: str) -> list[etree._Element]:
        """Every element of the document carrying `name`, in document order."""
        return [element for named, element in self._named if named == name]

    def any(self, *names: str) -> bool:
        """Whether an element of the document carries one of `names`."""
        return any(name in self._names for name in names)

    def any_prefixed(self, prefix: str) -> bool:
        """Whether an element of the document carries a data-hook starting with `prefix`."""
        return any(name.startswith(prefix) for name in self._names)


def _text(element: etree._Element | None, skip_icons: bool = False) -> str | None:
    """Visible text of an element, line breaks kept; star icons dropped from titles."""
    if element is None:
        return None
    parts: list[str] = []
    _visible(element, skip_icons, parts)
    text = "".join(parts)
    if "\n" not in text:  # one line, as most are
        return " ".join(text.split()) or None
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line) or None


def _hidden(element: etree._Element, tag: str, skip_icons: bool) -> bool:
    """Scripts, styles and expander headers (and, for titles, icons) are no visible text."""
    if tag in ("script", "style"):
        return True
    classes = element.get("class") or ""
    if "a-expander-header" in classes:
        return True
    return skip_icons and (tag == "i" or "a-icon-alt" in classes)


def _visible(element: etree._Element, skip_icons: bool, parts: list[str]) -> None:
    # The element's text nodes in document order (what text_content() gives), less those
    # of hidden descendants (their tails stay, as drop_tree() keeps them); a <br> is a
    # line break. (lxml makes a new string at each read of .tag, .text or .tail: read once.)
    text = element.text
    if text:
        parts.append(text)
    for child in element:
        tag = child.tag
        if isinstance(tag, str) and not _hidden(child, tag, skip_icons):
            _visible(child, skip_icons, parts)
            if tag == "br":
                parts.append("\n")
        tail = child.tail
        if tail:
            parts.append(tail)


def _date_match(text: str) -> tuple[str, str | None]:
    """(the date part, the country as the page names it) of a "Reviewed in … on …" line."""
    for pattern in (loc.DATE_LINE, loc.DATE_LINE_TR, loc.DATE_LINE_JA):
        match = pattern.search(text)
        if match:
            return match.group("date"), match.group("country")
    return text, None


def parse_review_date(text: str | None) -> tuple[str | None, str | None]:
    """(ISO date, English country name) from a localized "Reviewed in … on …" line."""
    if not text:
        return None, None
    text = unicodedata.normalize("NFC", " ".join(text.split()))
    text, named = _date_match(text)
    country = None
    if named:
        raw = re.sub(r"^(?:the|den|dem|der|los|las|la|le|les|gli|l')\s*", "", named).strip()
        country = loc.COUNTRIES.get(raw.lower(), raw)
    japanese = re.search(r"(\d{4})年(\d{1,2})月(\d{1,2})日", text)
    if japanese:
        y, m, d = map(int, japanese.groups())
        return date(y, m, d).isoformat(), country
    words = re.findall(r"\d+|[^\W\d_]+", text.lower())
    day: int | None = None
    month: int | None = None
    year: int | None = None
    for word in words:
        if word.isdigit():
            if len(word) == 4:
                year = int(word)
            elif day is None:
                day = int(word)
        elif month is None and word in loc.MONTHS:
            month = loc.MONTHS[word]
    try:
        return (date(year, month, day).isoformat() if year and month and day else None), country
    except ValueError:
        return None, country


def parse_rating(text: str | None) -> float | None:
    """4.0 from "4.0 out of 5 stars", "4,0 von 5 Sternen", "5つ星のうち4.0",
    "5 üzerinden 4,0" (Turkish); None for anything outside 0-5."""
    if not text:
        return None
    numbers = re.findall(r"\d+(?:[.,]\d+)?", text)
    if not numbers:
        return None
    scale_first = any(word in text for word in loc.SCALE_FIRST)
    rating = parse_number(numbers[-1] if scale_first else numbers[0])
    return rating if rating is not None and 0 <= rating <= 5 else None


def parse_helpful(text: str | None) -> int:
    if not text:
        return 0
    count = parse_int(text)
    if count is not None:
        return count
    return 1 if set(re.findall(r"\w+", text.lower())) & _ONE else 0


def review_page_url(base_url: str, asin: str, marketplace: str, page: int = 1) -> str:
    """`{base}/product-reviews/{ASIN}/?pageNumber={page}`; base may hold `{marketplace}`."""
    asin = asin.strip().upper()
    if not ASIN_RE.match(asin):
        raise PermanentSourceError(f"invalid ASIN {asin!r}: expected 10 letters or digits")
    base = base_url.replace("{marketplace}", marketplace).rstrip("/")
    return f"{base}/product-reviews/{asin}/?pageNumber={int(page)}"


def _page_context(url: str | None) -> tuple[str | None, str | None, int, str | None]:
    if not url:
        return None, None, 1, None
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    asin_match = re.search(r"/(?:product-reviews|dp)/([A-Za-z0-9]{10})(?:/|$)", parts.path)
    market = re.search(r"(amazon\.[a-z.]+)", (parts.hostname or "") + parts.path)
    page = parse_int((query.get("pageNumber") or ["1"])[0]) or 1
    return (
        asin_match.group(1).upper() if asin_match else None,
        market.group(1).rstrip(".") if market else None,
        page,
        next(iter(query.get("sortBy") or []), None),
    )


def _histogram(tree: etree._Element) -> dict[str, int]:
    table = _xpath('//@id[. = "histogramTable"]/..')(tree)
    if not table:
        return {}
    histogram: dict[str, int] = {}
    for row in _xpath(".//tr | .//li")(table[0]):
        text = " ".join(_string(row).split())
        star_class = _xpath('descendant::a/@class[contains(., "star")]')(row)
        star = re.search(r"([1-5])star", " ".join(star_class)) or re.search(r"\b([1-5])\b", text)
        percent = re.findall(r"(\d{1,3})\s*%", text) or _xpath("descendant::*/@aria-valuenow")(row)
        if star and percent:
            histogram[star.group(1)] = parse_int(percent[-1]) or 0
    return histogram


def _verified(node: etree._Element, hook: _Hooks) -> bool:
    if hook.any_prefixed("avp-badge"):
        return True
    badges = _xpath(_BADGES)(node)
    return any(" ".join(_string(b).split()).lower() in loc.VERIFIED for b in badges)


def _star_filter(tree: etree._Element, url: str | None) -> int | None:
    """The star rating a filtered review list shows only (1-5), or None for all reviews."""
    chosen = (parse_qs(urlsplit(url).query).get("filterByStar") or [""])[0] if url else ""
    if not chosen:
        selected = _xpath(_STARS_CHOSEN)(tree)
        chosen = selected[0] if selected else ""
    word = chosen.lower().removesuffix("_star")
    return loc.STAR_WORDS.get(word)


def _review(node: etree._Element, top: bool) -> Review:
    review_id = (node.get("id") or "").removeprefix("customer_review-")
    hook = _Hooks(node)
    rating_el = hook("review-star-rating", "cmps-review-star-rating")
    day, country = parse_review_date(_text(hook("review-date")))
    body = hook("review-collapsed", "review-body")
    author = _xpath('descendant::*/@class[contains(., "a-profile-name")]/..')(node)
    return Review(
        amazon_review_id=review_id,
        rating=parse_rating(_text(rating_el)),
        title=_text(hook("review-title"), skip_icons=True),
        content=_text(body),
        author=_text(author[0]) if author else None,
        date=day,
        country=country,
        verified_purchase=_verified(node, hook),
        helpful_votes=parse_helpful(_text(hook("helpful-vote-statement"))),
        is_top_review=top,
    )


def parse_page(
    html: str, *, asin: str | None = None, marketplace: str | None = None, url: str | None = None
) -> ReviewPage:
    """One Amazon review page; ParseError for captcha, sign-in or unrelated pages."""
    tree = parse_html_plain(html)
    if _xpath('/descendant::form[contains(@action, "validateCaptcha")]')(tree):
        raise ParseError("Amazon answered with a captcha page instead of reviews")
    hook = _Hooks(tree, document=True)
    if not (hook.any(*_STRUCTURE_HOOKS) or _xpath('//@id[. = "cm_cr-review_list"]')(tree)):
        if _xpath('/descendant::form[@name="signIn"]')(tree):
            raise ParseError("Amazon answered with a sign-in page instead of reviews")
        raise ParseError("not an Amazon review page: no review markup found")
    url_asin, url_market, page_number, sort = _page_context(url)
    selected = _xpath(_SORT_CHOSEN)(tree)
    sort = sort or (selected[0] if selected else None)
    top = hook.any("dp-local-reviews-header", "top-customer-reviews-title")
    top = top or (sort == "helpful" and page_number == 1)
    product_link = hook("product-link")
    page_asin = (
        re.search(r"/dp/([A-Z0-9]{10})", product_link.get("href", ""))
        if product_link is not None
        else None
    )
    # An img that is the product image or lies inside it or inside the product's box.
    image = _xpath(
        '/descendant::img[@data-hook="cr-product-image" or ancestor::*[@data-hook='
        '"cr-product-image" or @id="cm_cr-product_info"]]/@src'
    )(tree)
    star_filter = _star_filter(tree, url)
    counts = _text(hook("cr-filter-info-review-rating-count"))
    # "1 204 évaluations au total, 311 avec avis": text cleaning made the no-break
    # space a plain one, so groups of three digits after a space belong to the number.
    numbers = re.findall(r"\d{1,3}(?:[ .,\u00a0\u202f]\d{3})+(?!\d)|\d+", counts or "")
    # A filtered list's counts are the filter's, not the product's: leave the total unknown.
    total = (
        None
        if star_filter is not None
        else parse_int(numbers[1])
        if len(numbers) > 1
        else parse_int(_text(hook("total-review-count")))
    )
    next_link = _xpath(
        '/descendant::li[contains(@class, "a-last") and not(contains(@class, "a-disabled"))]'
        "/descendant::a/@href"
    )(tree)
    return ReviewPage(
        asin=(asin or url_asin or (page_asin.group(1) if page_asin else "")).upper(),
        marketplace=marketplace or url_market or "",
        page=page_number,
        product_title=_text(product_link),
        image_url=image[0] if image else None,
        total_reviews=total,
        average_rating=parse_rating(_text(hook("rating-out-of-text"))),
        histogram=_histogram(tree),
        star_filter=star_filter,
        reviews=[_review(node, top) for node in hook.every("review")],
        next_page_url=(urljoin(url, next_link[0]) if url else next_link[0]) if next_link else None,
    )


def fetch_reviews(
    client: HttpClient, asin: str, marketplace: str, *, base_url: str, max_pages: int = 10
) -> list[ReviewPage]:
    """Fetch the review pages of an ASIN, following "next page" links up to max_pages."""
    url: str | None = review_page_url(base_url, asin, marketplace)
    # Pagination links must stay on the marketplace we were pointed at.
    allowed = [domain_of(base_url.replace("{marketplace}", marketplace))]
    pages: list[ReviewPage] = []
    seen: set[str] = set()
    while url and url not in seen and len(pages) < max_pages:
        seen.add(url)
        response = client.get(url, allowed_domains=allowed)
        page = parse_page(response.text, asin=asin, marketplace=marketplace, url=response.url)
        pages.append(page)
        url = page.next_page_url
    return pages
