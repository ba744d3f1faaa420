"""The browser console at /console: sign-in with an API key (a server-side session), usage,
workflows, jobs, products with their price chart, monitors, and the operators' search,
retries and queue depths. Server-rendered Jinja; one stylesheet and a few lines of script."""

from api.console import home, jobs, monitors, products, search, workflows
from api.console.base import bp

__all__ = ["bp", "home", "jobs", "monitors", "products", "search", "workflows"]
