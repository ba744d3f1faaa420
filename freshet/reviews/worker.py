"""The worker's side of a review refresh: the marketplace's pages fetched politely, every
review upserted once, the product's summary kept beside them."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import Connection, text

from freshet import hosts, jobs
from freshet.runtime import Runtime, Upstream
from sources import amazon_reviews
from store.db import Executor


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

    def complete(self, conn: Executor, rt: Runtime, job: dict[str, Any], pages: Any) -> bool:
        """Store the pages, finish the job and charge it: one statement (`_COMPLETE`)."""
        params = pages_params(job["asin"], job["marketplace"], pages)
        return jobs.complete(conn, _COMPLETE, job, params) is not None

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


# Every review of a refresh and the product's summary in one statement whose text never
# changes (a multi-row VALUES would be compiled anew for every row count): the reviews
# travel as one JSON document. `{me}` is where the write's one row comes from: nothing for
# a plain write; `me, ` (a job's locked row) inside a job's completion, so nothing is
# written when the job's fence refuses.
_PAGES = """
reviewed AS (
  INSERT INTO reviews (asin, marketplace, amazon_review_id, title, content, rating, author,
                       review_date, country, verified_purchase, helpful_votes, is_top_review,
                       scraped_at)
  SELECT :asin, :marketplace, r.id, r.title, r.content, r.rating, r.author, r.date, r.country,
         r.verified, r.helpful, r.top, now()
  FROM {me}jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
    id text, title text, content text, rating float8, author text, date date, country text,
    verified boolean, helpful integer, top boolean)
  ON CONFLICT ON CONSTRAINT uq_reviews_identity DO UPDATE SET
    title = EXCLUDED.title, content = EXCLUDED.content, rating = EXCLUDED.rating,
    author = EXCLUDED.author, review_date = EXCLUDED.review_date, country = EXCLUDED.country,
    verified_purchase = EXCLUDED.verified_purchase, helpful_votes = EXCLUDED.helpful_votes,
    is_top_review = EXCLUDED.is_top_review, scraped_at = EXCLUDED.scraped_at),
summary AS (
  INSERT INTO review_products (asin, marketplace, title, image_url, total_reviews,
                               average_rating, histogram, last_scraped)
  SELECT :asin, :marketplace, :title, :image_url, CAST(:total AS integer),
         CAST(:average AS float8), CAST(:histogram AS jsonb), now(){from_me}
  ON CONFLICT (asin, marketplace) DO UPDATE SET
    title = EXCLUDED.title, image_url = EXCLUDED.image_url,
    total_reviews = EXCLUDED.total_reviews, average_rating = EXCLUDED.average_rating,
    histogram = EXCLUDED.histogram, last_scraped = EXCLUDED.last_scraped)"""
_STORE_PAGES = text("WITH" + _PAGES.format(me="", from_me="") + "\nSELECT 1")
# A review job's completion, compiled once: its pages stored, the job completed and charged.
_COMPLETE = jobs.completion(
    _PAGES.format(me="me, ", from_me=" FROM me"), result="CAST(:result AS jsonb)"
)


def pages_params(asin: str, marketplace: str, pages: list[Any]) -> dict[str, Any]:
    """The parameters of the pages' write, `result` (the job's) among them."""
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
    return {
        "asin": asin,
        "marketplace": marketplace,
        "rows": json.dumps(list(rows.values()), default=str),
        "title": title,
        "image_url": image,
        "total": first.total_reviews if first else 0,
        "average": first.average_rating if first else None,
        "histogram": json.dumps((first.histogram if first else {}) or {}),
        "result": json.dumps({"reviewsFound": len(rows), "productTitle": title}),
    }


def store_pages(conn: Connection, asin: str, marketplace: str, pages: list[Any]) -> dict[str, Any]:
    params = pages_params(asin, marketplace, pages)
    conn.execute(_STORE_PAGES, params)
    result: dict[str, Any] = json.loads(params["result"])
    return result
