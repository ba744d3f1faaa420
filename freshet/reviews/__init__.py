"""Review refresh jobs (Descripio's contract): submission with guards and the month's quota,
the worker's fetch of a marketplace's review pages, and the cached reviews."""

from freshet.reviews.cached import cached_reviews
from freshet.reviews.submission import submit, validate_asin, validate_marketplace
from freshet.reviews.worker import HANDLER

__all__ = ["HANDLER", "cached_reviews", "submit", "validate_asin", "validate_marketplace"]
