"""The worker's side of a review refresh: the marketplace's pages fetched politely, every
review upserted once, the product's summary kept beside them."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import Connection, func, text
from sqlalchemy.dialects.postgresql import insert

from freshet import hosts
from freshet.runtime import Runtime, Upstream
from sources import amazon_reviews
from store.tables import review_products


class ReviewHandler:
    kind = "reviews"

    def upstream(self, rt: Runtime, job: dict[str, Any]) -> Upstream:
        # The first page's host; every later page is admitted on its own by the job's client.
        base = rt.settings.amazon_base_url.replace("{marketplace}", job["marketplace"])
        return Upstream(base.rstrip("/") + "/", rt.settings.politeness_per_second)

    def fetch(self, rt: Runtime, job: dict[str, Any]) -> Any:
        return amazon_reviews.fetch_reviews(
            hosts.http(rt),
            job["asin"],
            job["marketplace"],
            base_url=rt.settings.amazon_base_url,
            max_pages=rt.settings.review_max_pages,
        )

    def store(
        self, conn: Connection, rt: Runtime, job: dict[str, Any], pages: Any
    ) -> dict[str, Any]:
        return store_pages(conn, job["asin"], job["marketplace"], pages)

    def after(self, rt: Runtime, job: dict[str, Any], status: str) -> None:
        g = rt.guards
        cd_key = None
        if status != "completed":  # a failed or cancelled job gives the cooldown back
            cd_key = g.cooldown_key(job["org_id"], job["asin"], job["marketplace"])
        try:
            g.release(job["id"], cooldown_key=cd_key, slot_key=g.slot_key(job["org_id"]))
        except Exception:  # Redis away: the sweeper retries (clear_orphan_cooldowns, sync_slots)
            log.warning("release failed; the sweeper will", extra={"job_id": job["id"]})


HANDLER = ReviewHandler()
log = logging.getLogger("freshet.reviews")


# Every review of a refresh in one statement whose text never changes (a multi-row VALUES
# would be compiled anew for every row count): the rows travel as one JSON document.
_UPSERT_REVIEWS = text(
    """
INSERT INTO reviews (asin, marketplace, amazon_review_id, title, content, rating, author,
                     review_date, country, verified_purchase, helpful_votes, is_top_review,
                     scraped_at)
SELECT :asin, :marketplace, r.id, r.title, r.content, r.rating, r.author, r.date, r.country,
       r.verified, r.helpful, r.top, now()
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
  id text, title text, content text, rating float8, author text, date date, country text,
  verified boolean, helpful integer, top boolean)
ON CONFLICT ON CONSTRAINT uq_reviews_identity DO UPDATE SET
  title = EXCLUDED.title, content = EXCLUDED.content, rating = EXCLUDED.rating,
  author = EXCLUDED.author, review_date = EXCLUDED.review_date, country = EXCLUDED.country,
  verified_purchase = EXCLUDED.verified_purchase, helpful_votes = EXCLUDED.helpful_votes,
  is_top_review = EXCLUDED.is_top_review, scraped_at = EXCLUDED.scraped_at
"""
)


def store_pages(conn: Connection, asin: str, marketplace: str, pages: list[Any]) -> dict[str, Any]:
    first = pages[0] if pages else None
    title = next((p.product_title for p in pages if p.product_title), None)
    image = next((p.image_url for p in pages if p.image_url), None)
    rows: dict[str, dict[str, Any]] = {}
    for page in pages:
        for r in page.reviews:
            rows.setdefault(
                r.amazon_review_id,
                {
                    "id": r.amazon_review_id,
                    "title": r.title,
                    "content": r.content,
                    "rating": r.rating,
                    "author": r.author,
                    "date": r.date,
                    "country": r.country,
                    "verified": bool(r.verified_purchase),
                    "helpful": int(r.helpful_votes or 0),
                    "top": bool(r.is_top_review),
                },
            )
    if rows:
        conn.execute(
            _UPSERT_REVIEWS,
            {
                "asin": asin,
                "marketplace": marketplace,
                "rows": json.dumps(list(rows.values()), default=str),
            },
        )
    values = dict(
        asin=asin,
        marketplace=marketplace,
        title=title,
        image_url=image,
        total_reviews=first.total_reviews if first else 0,
        average_rating=first.average_rating if first else None,
        histogram=(first.histogram if first else {}) or {},
        last_scraped=func.now(),
    )
    stmt = insert(review_products).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["asin", "marketplace"],
            set_={k: stmt.excluded[k] for k in values if k not in ("asin", "marketplace")},
        )
    )
    return {"reviewsFound": len(rows), "productTitle": title}
