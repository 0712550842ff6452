"""Bulk writes on PostgreSQL: ``COPY`` into a staging table, then one set-based statement.

``recruitment.services.customers_upsert`` and the backfill of
``conversions_bulk_record`` call these on PostgreSQL instead of building one
``INSERT`` with a placeholder per value (Django compiles ~17 placeholders per
row, psycopg splits the query text again: most of the time of a 1,000-row
batch). The semantics are the ORM path's, row for row (tests run both):

* customers: a row's given fields overwrite, absent ones keep their stored
  values (defaults for a new customer); a row equal to the stored customer is
  ``unchanged`` and not written; a new address clears an earlier bounce;
* orders: a new order id goes in as history (never attributed) with an audit
  row; one already recorded with the same fingerprint is ``existing``, with
  another an ``order_conflict`` error.

The staging tables are temporary (per session, rows dropped at commit), so
each call runs in one transaction: a failure leaves nothing of the batch.
"""

import json

from django.db import connection, transaction

from advocacy.models import AuditAction, AuditLog
from core.normalize import normalize_email
from referrals.models import Conversion

from .models import Customer

CUSTOMERS = Customer._meta.db_table
CONVERSIONS = Conversion._meta.db_table
AUDITS = AuditLog._meta.db_table

# (field, staged type, default for a new customer); the bit of field i is 1 << i.
CUSTOMER_FIELDS = [
    ("email", "varchar", "''"),
    ("name", "varchar", "''"),
    ("locale", "varchar", "''"),
    ("marketing_consent", "boolean", "false"),
    ("reviews", "integer", "0"),
    ("review_rating", "smallint", "NULL"),
    ("social_engagement", "integer", "0"),
    ("attributes", "jsonb", "'{}'::jsonb"),
]
CUSTOMER_STAGE = "recruitment_customer_stage"
ORDER_STAGE = "recruitment_order_stage"


def _stage(cursor, table: str, columns: list[tuple[str, str]], rows) -> None:
    """Fill the session's temporary ``table`` (made on first use) with ``rows`` by COPY."""
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {table} "
        f"({', '.join(f'{name} {kind}' for name, kind in columns)}) ON COMMIT DELETE ROWS"
    )
    cursor.execute(f"TRUNCATE {table}")
    with cursor.copy(f"COPY {table} ({', '.join(n for n, _ in columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def customers_upsert(*, program_id: int, rows: list[dict], now) -> tuple[int, int, int, list[int]]:
    """Upsert rows (distinct ``external_id``s, validated) in one statement.

    Returns (created, updated, unchanged, ids of all the rows' customers).
    """
    columns = [
        ("external_id", "varchar"),
        ("given", "integer"),
        ("email_normalized", "varchar"),
        *[(name, kind) for name, kind, _ in CUSTOMER_FIELDS],
    ]
    staged = []
    for row in rows:
        given = 0
        values = []
        for bit, (name, _, _) in enumerate(CUSTOMER_FIELDS):
            if name in row:
                given |= 1 << bit
                value = row[name]
                values.append(json.dumps(value) if name == "attributes" else value)
            else:
                values.append(None)
        staged.append((row["external_id"], given, row.get("email_normalized"), *values))

    def given(name: str) -> str:
        bit = next(i for i, (n, _, _) in enumerate(CUSTOMER_FIELDS) if n == name)
        return f"s.given & {1 << bit} <> 0"

    merged = [
        f"CASE WHEN {given(name)} THEN s.{name} WHEN c.id IS NULL THEN {default} "
        f"ELSE c.{name} END AS {name}"
        for name, _, default in CUSTOMER_FIELDS
    ]
    merged.append(
        f"CASE WHEN {given('email')} THEN s.email_normalized WHEN c.id IS NULL THEN '' "
        "ELSE c.email_normalized END AS email_normalized"
    )
    changed = [
        f"({given(name)} AND s.{name} IS DISTINCT FROM c.{name})" for name, _, _ in CUSTOMER_FIELDS
    ]
    changed.append(f"({given('email')} AND s.email_normalized IS DISTINCT FROM c.email_normalized)")
    names = [name for name, _, _ in CUSTOMER_FIELDS]
    written = [*names, "email_normalized", "undeliverable_at", "undeliverable_reason"]
    moved = "(old_id IS NULL OR email_normalized IS DISTINCT FROM old_email_normalized)"
    sql = f"""
        WITH src AS (
            SELECT s.external_id, c.id AS old_id, {", ".join(merged)},
                   c.email_normalized AS old_email_normalized,
                   c.undeliverable_at AS old_undeliverable_at,
                   c.undeliverable_reason AS old_undeliverable_reason,
                   (c.id IS NOT NULL AND ({" OR ".join(changed)})) AS changed
            FROM {CUSTOMER_STAGE} s
            LEFT JOIN {CUSTOMERS} c ON c.program_id = %(program)s AND c.external_id = s.external_id
        ),
        up AS (
            INSERT INTO {CUSTOMERS} (program_id, external_id, {", ".join(written)}, score_model,
                score_reasons, order_count, revenue_minor, nps_category, created_at, updated_at)
            SELECT %(program)s, external_id, {", ".join([*names, "email_normalized"])},
                CASE WHEN {moved} THEN NULL ELSE old_undeliverable_at END,
                CASE WHEN {moved} THEN '' ELSE old_undeliverable_reason END,
                '', '[]'::jsonb, 0, 0, '', %(now)s, %(now)s
            FROM src WHERE old_id IS NULL OR changed
            ORDER BY external_id
            ON CONFLICT (program_id, external_id) DO UPDATE SET
                {", ".join(f"{n} = EXCLUDED.{n}" for n in [*written, "updated_at"])}
            RETURNING 1
        )
        SELECT count(*) FILTER (WHERE old_id IS NULL),
               count(*) FILTER (WHERE changed),
               count(*) FILTER (WHERE old_id IS NOT NULL AND NOT changed),
               (SELECT count(*) FROM up)
        FROM src
    """  # noqa: S608 - fixed names
    with transaction.atomic(), connection.cursor() as cursor:
        _stage(cursor, CUSTOMER_STAGE, columns, staged)
        cursor.execute(sql, {"program": program_id, "now": now})
        created, updated, unchanged, _ = cursor.fetchone()
        cursor.execute(
            f"SELECT c.id FROM {CUSTOMER_STAGE} s JOIN {CUSTOMERS} c "  # noqa: S608
            "ON c.program_id = %s AND c.external_id = s.external_id ORDER BY c.id",
            [program_id],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
    return created, updated, unchanged, ids


def orders_backfill(
    *, program_id: int, rows: list[tuple[int, dict]], reason: str, now
) -> tuple[set[int], set[int]]:
    """Insert the new orders of ``rows`` (distinct order ids) as history, an audit row each.

    Returns (indexes of the rows inserted, indexes of the rows whose order id was
    recorded with another fingerprint); the other rows are "existing".
    """
    columns = [
        ("idx", "integer"),
        ("order_id", "varchar"),
        ("amount_minor", "bigint"),
        ("currency", "varchar"),
        ("customer_email", "varchar"),
        ("customer_email_normalized", "varchar"),
        ("customer_external_id", "varchar"),
        ("fingerprint", "varchar"),
        ("occurred_at", "timestamptz"),
    ]
    staged = (
        (
            index,
            f["order_id"],
            f["amount_minor"],
            f["currency"],
            f.get("customer_email") or "",
            normalize_email(f.get("customer_email")),
            f.get("customer_external_id") or "",
            f["fingerprint"],
            f["occurred_at"],
        )
        for index, f in rows
    )
    audit = json.dumps({"attributed": False, "reason": reason, "backfill": True})
    insert = f"""
        WITH ins AS (
            INSERT INTO {CONVERSIONS} (program_id, order_id, amount_minor, currency,
                refunded_minor, customer_email, customer_email_normalized, customer_external_id,
                attributed, attribution_method, attribution_reason, status, source, backfill,
                stripe_payment_intent, payment_fingerprint, request_fingerprint, occurred_at,
                created_at)
            SELECT %(program)s, s.order_id, s.amount_minor, s.currency, 0, s.customer_email,
                s.customer_email_normalized, s.customer_external_id, false, %(method)s,
                %(reason)s, %(status)s, 'api', true, '', '', s.fingerprint, s.occurred_at,
                %(now)s
            FROM {ORDER_STAGE} s
            WHERE NOT EXISTS (SELECT 1 FROM {CONVERSIONS} c
                              WHERE c.program_id = %(program)s AND c.order_id = s.order_id)
            ORDER BY s.idx
            ON CONFLICT (program_id, order_id) DO NOTHING
            RETURNING id, order_id
        ),
        audit AS (
            INSERT INTO {AUDITS} (program_id, action, object_type, object_id, data, created_at)
            SELECT %(program)s, %(action)s, %(object_type)s, ins.id::text, %(audit)s::jsonb,
                %(now)s
            FROM ins ORDER BY ins.id
        )
        SELECT s.idx FROM ins JOIN {ORDER_STAGE} s ON s.order_id = ins.order_id
    """  # noqa: S608 - fixed names
    with transaction.atomic(), connection.cursor() as cursor:
        _stage(cursor, ORDER_STAGE, columns, staged)
        cursor.execute(
            insert,
            {
                "program": program_id,
                "method": Conversion.Method.NONE,
                "reason": reason,
                "status": Conversion.Status.COMPLETED,
                "now": now,
                "action": AuditAction.CONVERSION_RECORDED,
                "object_type": Conversion._meta.label_lower,
                "audit": audit,
            },
        )
        created = {idx for (idx,) in cursor.fetchall()}
        cursor.execute(
            f"SELECT s.idx FROM {ORDER_STAGE} s JOIN {CONVERSIONS} c "  # noqa: S608
            "ON c.program_id = %s AND c.order_id = s.order_id "
            "WHERE c.request_fingerprint <> s.fingerprint",
            [program_id],
        )
        conflicts = {idx for (idx,) in cursor.fetchall()}
    return created, conflicts


SCORE_STAGE = "recruitment_score_stage"


def scores_write(customers: list[Customer], columns: list[tuple[str, str]]) -> None:
    """Write the customers' ``columns`` (name, SQL type) from one staged COPY."""
    names = [name for name, _ in columns]
    staged = (
        (
            c.pk,
            *(
                json.dumps(getattr(c, name)) if kind == "jsonb" else getattr(c, name)
                for name, kind in columns
            ),
        )
        for c in customers
    )
    with transaction.atomic(), connection.cursor() as cursor:
        _stage(cursor, SCORE_STAGE, [("id", "bigint"), *columns], staged)
        cursor.execute(
            f"UPDATE {CUSTOMERS} c SET {', '.join(f'{n} = v.{n}' for n in names)} "  # noqa: S608
            f"FROM {SCORE_STAGE} v WHERE c.id = v.id"
        )
