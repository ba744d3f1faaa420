"""Opaque page cursors: a tag saying which listing gave it out, and the last position seen."""

from __future__ import annotations

import base64

from freshet.errors import BadRequest


def encode_cursor(tag: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{tag}:{position}".encode()).decode().rstrip("=")


def decode_cursor(tag: str, cursor: str) -> int:
    """The position in `cursor`; 400 `invalid_cursor` for anything this listing did not give."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, value = raw.split(":", 1)
        if kind != tag or not value.isascii() or not value.lstrip("-").isdigit():
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(
            "cursor is not one this API gave out; start without it.",
            title="Invalid cursor",
            code="invalid_cursor",
        ) from exc
