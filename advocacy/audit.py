"""The audit log: one row beside every state change that matters, in the same transaction.

Every action of every app is a member of ``AuditAction`` (nurture's are ``nurture.*``)."""

import threading
from contextlib import contextmanager

from .models import AuditAction, AuditLog, Program

__all__ = ["AuditAction", "audit_batch", "audit_log"]

_local = threading.local()


def audit_log(
    *,
    action: AuditAction,
    obj,
    program: Program | None = None,
    actor=None,
    data: dict | None = None,
) -> AuditLog:
    """Record a state change; call inside the transaction that makes the change."""
    row = AuditLog(
        program=program,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=AuditAction(action),
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        data=data or {},
    )
    batch = getattr(_local, "batch", None)
    if batch is not None:
        batch.append(row)
    else:
        row.save(force_insert=True)
    return row


@contextmanager
def audit_batch():
    """The audit rows of the block are written together, with one INSERT, when it ends
    without an error. Use it inside the block's transaction, for a use case that
    writes several rows and never reads them back before it ends (an order: its
    conversion and its rewards)."""
    if getattr(_local, "batch", None) is not None:  # already batching: the outer one writes
        yield
        return
    _local.batch = rows = []
    try:
        yield
    finally:
        _local.batch = None
    if rows:
        AuditLog.objects.bulk_create(rows)
