"""Freshet's domain: job lifecycle, tenants, tokens, catalogs, products, reviews, batch, CLI."""
