from .models import AuditLog, Program


def audit_log(
    *,
    action: str,
    obj,
    program: Program | None = None,
    actor=None,
    data: dict | None = None,
) -> AuditLog:
    """Record a state change; call inside the transaction that makes the change."""
    return AuditLog.objects.create(
        program=program,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        data=data or {},
    )
