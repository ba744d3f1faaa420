"""Products: ids and how they resolve, the cached lookup and force refresh with exact token
accounting, the stored product and its price history, single flight, the worker's side and
beat's hot-product pass."""

from freshet.products.flight import sweep_followers
from freshet.products.ids import Target
from freshet.products.lookup import Meter, Outcome, lookup, tokens_left
from freshet.products.reads import find as find_products
from freshet.products.reads import stored
from freshet.products.store import RECORD_CTES, record_params, store_record
from freshet.products.view import LookupOptions
from freshet.products.worker import HANDLER, refresh_hot

__all__ = [
    "HANDLER",
    "RECORD_CTES",
    "LookupOptions",
    "Meter",
    "Outcome",
    "Target",
    "find_products",
    "lookup",
    "record_params",
    "refresh_hot",
    "store_record",
    "stored",
    "sweep_followers",
    "tokens_left",
]
