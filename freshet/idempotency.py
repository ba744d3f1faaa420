"""Idempotency-Key records, written by the domain in the transaction that commits the work.

A key is stored only together with what it bought: the job (or workflow), its reservation and
its ledger row commit in the same transaction as the key and the answer the client is owed
(the `202` with the job). So a committed job can never lose its key, and a retry with the same
key gets that answer whatever failed after the commit. The final answer (a `200` once a
synchronous refresh finished) replaces it afterwards, best effort.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, select, update
from sqlalchemy.dialects.postgresql import insert

from store.tables import idempotency_keys


class KeyTaken(Exception):
    """Another request with this key committed first: roll back and replay its answer."""


@dataclass
class IdempotencyKey:
    org_id: int
    key: str
    route: str
    body_hash: str
    recorded: bool = False  # the domain's transaction wrote it (and so committed the work)


def record(conn: Connection, idem: IdempotencyKey | None, status: int, body: Any) -> None:
    """Bind the key to the answer inside the caller's transaction; KeyTaken if it is bound."""
    if idem is None:
        return
    row = conn.execute(
        insert(idempotency_keys)
        .values(
            org_id=idem.org_id,
            key=idem.key,
            route=idem.route,
            body_hash=idem.body_hash,
            status_code=status,
            response=body,
        )
        .on_conflict_do_nothing()
        .returning(idempotency_keys.c.key)
    ).first()
    if row is None:
        raise KeyTaken(idem.key)
    idem.recorded = True


def answer(conn: Connection, idem: IdempotencyKey, status: int, body: Any) -> None:
    """The final answer for a key: replaces the provisional one the domain recorded, or binds
    the key now for answers that committed nothing (4xx)."""
    if idem.recorded:
        conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.org_id == idem.org_id, idempotency_keys.c.key == idem.key)
            .values(status_code=status, response=body)
        )
        return
    conn.execute(
        insert(idempotency_keys)
        .values(
            org_id=idem.org_id,
            key=idem.key,
            route=idem.route,
            body_hash=idem.body_hash,
            status_code=status,
            response=body,
        )
        .on_conflict_do_nothing()
    )


def find(conn: Connection, org_id: int, key: str) -> Row[Any] | None:
    return conn.execute(
        select(idempotency_keys).where(
            idempotency_keys.c.org_id == org_id, idempotency_keys.c.key == key
        )
    ).first()
