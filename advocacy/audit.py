"""The audit log: one row beside every state change that matters, in the same transaction.

Every action of every app is a member of ``AuditAction`` (nurture's are ``nurture.*``)."""

from .models import AuditAction, AuditLog, Program

__all__ = ["AuditAction", "audit_log"]


def audit_log(
    *,
    action: AuditAction,
    obj,
    program: Program | None = None,
    actor=None,
    data: dict | None = None,
) -> AuditLog:
    """Record a state change; call inside the transaction that makes the change."""
    return AuditLog.objects.create(
        program=program,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=AuditAction(action),
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        data=data or {},
    )
