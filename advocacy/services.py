"""Writes for programs, API keys and advocates."""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from core.config_cache import ConfigCache, fresh
from core.errors import ServiceError, Unprocessable
from core.money import CURRENCY_EXPONENTS
from core.normalize import normalize_email

from . import events
from .audit import AuditAction, audit_log
from .models import (
    Advocate,
    ApiKey,
    Program,
    ProgramFAQ,
    ProgramMembership,
    ShareMessage,
    TermsAcceptance,
    hash_key,
)

LAST_USED_RESOLUTION = timedelta(minutes=1)
# key hash -> the active ApiKey with its program (CONFIG_CACHE_SECONDS).
_api_keys = ConfigCache("api keys", invalidated_by=("advocacy.ApiKey", "advocacy.Program"))


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "program"
    slug, n = base, 1
    while Program.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def program_create(
    *,
    name: str,
    landing_url: str,
    allowed_domains: list[str] | None = None,
    currency: str = "EUR",
    hold_days: int = 14,
    attribution_window_days: int = 30,
    slug: str | None = None,
    owner=None,
) -> tuple[Program, str, str]:
    """Create a program with one secret and one publishable key; returns the raw keys."""
    if currency not in CURRENCY_EXPONENTS:
        raise Unprocessable("unsupported_currency", f"Unsupported currency {currency!r}.")
    if hold_days < 0 or attribution_window_days < 1:
        raise Unprocessable("invalid_period", "Hold days >= 0 and attribution days >= 1.")
    program = Program(
        slug=slug or _unique_slug(name),
        name=name,
        landing_url=landing_url,
        allowed_domains=[d.lower().strip() for d in allowed_domains or []],
        currency=currency,
        hold_days=hold_days,
        attribution_window_days=attribution_window_days,
    )
    program.full_clean()
    program.save()
    if owner is not None:
        ProgramMembership.objects.create(
            program=program, user=owner, role=ProgramMembership.Role.OWNER
        )
    _, secret = api_key_create(program=program, kind=ApiKey.Kind.SECRET, name="default")
    _, publishable = api_key_create(program=program, kind=ApiKey.Kind.PUBLISHABLE, name="default")
    audit_log(action=AuditAction.PROGRAM_CREATED, obj=program, program=program, actor=owner)
    return program, secret, publishable


def _valid_scopes(kind: str, scopes) -> list[str]:
    if kind == ApiKey.Kind.PUBLISHABLE:
        return [ApiKey.Scope.FULL]  # a publishable key does what a browser does, no more
    scopes = sorted(set(scopes or ()))
    unknown = set(scopes) - set(ApiKey.Scope.values)
    if unknown or not scopes:
        raise Unprocessable(
            "invalid_scopes",
            f"Scopes are one or more of {', '.join(ApiKey.Scope.values)}; got {scopes}.",
        )
    return scopes


def api_key_create(
    *,
    program: Program,
    kind: str,
    name: str = "",
    raw: str | None = None,
    scopes=(ApiKey.Scope.FULL,),
    actor=None,
) -> tuple[ApiKey, str]:
    """Create an API key; the raw key is returned once and only its hash is kept."""
    raw = raw or ApiKey.generate_raw(kind)
    if not raw.startswith(ApiKey.PREFIXES[kind]):
        raise ServiceError("invalid_key", "Key prefix does not match its kind.")
    key = ApiKey.objects.create(
        program=program,
        kind=kind,
        name=name,
        prefix=raw[:10],
        key_hash=hash_key(raw),
        scopes=_valid_scopes(kind, scopes),
    )
    audit_log(
        action=AuditAction.API_KEY_CREATED,
        obj=key,
        program=program,
        actor=actor,
        data={"scopes": key.scopes},
    )
    return key, raw


def api_key_set_scopes(*, key: ApiKey, scopes, actor=None) -> None:
    """Change what a secret key may do; takes effect on its next request."""
    scopes = _valid_scopes(key.kind, scopes)
    if scopes == sorted(key.scopes or ()):
        return
    with transaction.atomic():
        before = key.scopes
        key.scopes = scopes
        key.save(update_fields=["scopes"])
        audit_log(
            action=AuditAction.API_KEY_SCOPES_CHANGED,
            obj=key,
            program=key.program,
            actor=actor,
            data={"before": before, "after": scopes},
        )


def api_key_rotate(
    *, key: ApiKey, overlap: timedelta | None = None, actor=None
) -> tuple[ApiKey, str]:
    """A new key in ``key``'s place (same kind, name and scopes); the old one keeps
    working for ``overlap`` (``API_KEY_ROTATION_OVERLAP_HOURS``), then stops.

    Rotating a key already rotated is refused: rotate its replacement.
    """
    if overlap is None:
        overlap = timedelta(hours=settings.API_KEY_ROTATION_OVERLAP_HOURS)
    if overlap < timedelta(0):
        raise Unprocessable("invalid_overlap", "The overlap cannot be negative.")
    with transaction.atomic():
        old = ApiKey.objects.select_for_update().get(pk=key.pk)
        if not old.is_active:
            raise Unprocessable("key_inactive", "This key is revoked or expired already.")
        if old.replaced_by_id is not None:
            raise Unprocessable(
                "key_rotated", "This key was rotated already: rotate its successor."
            )
        new, raw = api_key_create(
            program=old.program, kind=old.kind, name=old.name, scopes=old.scopes, actor=actor
        )
        old.expires_at = timezone.now() + overlap
        old.replaced_by = new
        old.save(update_fields=["expires_at", "replaced_by"])
        audit_log(
            action=AuditAction.API_KEY_ROTATED,
            obj=old,
            program=old.program,
            actor=actor,
            data={"replaced_by": new.prefix, "expires_at": old.expires_at.isoformat()},
        )
    key.expires_at, key.replaced_by = old.expires_at, new
    return new, raw


def api_key_rename(*, key: ApiKey, actor=None) -> None:
    """Save a key's new name (the only thing about a key that changes)."""
    with transaction.atomic():
        key.save(update_fields=["name"])
        audit_log(
            action=AuditAction.API_KEY_RENAMED,
            obj=key,
            program=key.program,
            actor=actor,
            data={"name": key.name},
        )


def api_key_revoke(*, key: ApiKey, actor=None) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_log(action=AuditAction.API_KEY_REVOKED, obj=key, program=key.program, actor=actor)


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The active key matching ``raw``, with its program; records when it was last used."""
    if not raw or not raw.startswith(("sk_", "pk_")) or len(raw) > 100:
        return None
    digest = hash_key(raw)
    key = _api_keys.get(
        digest,
        lambda: (
            ApiKey.objects.select_related("program")
            .filter(key_hash=digest, revoked_at__isnull=True)
            .order_by()
            .first()
        ),
    )
    if key is None:
        return None
    now = timezone.now()
    # A rotated key works until the end of its overlap (checked here, not in the
    # cached query, so a cached key stops at its expiry to the second).
    if key.expires_at is not None and key.expires_at <= now:
        return None
    cached, key = key, fresh(key)
    # Write at most once a minute per key, not on every request.
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = cached.last_used_at = now
    return key


def advocate_enroll(
    *,
    program: Program,
    email: str,
    name: str = "",
    external_id: str | None = None,
    locale: str = "",
    user=None,
    status: str = Advocate.Status.ACTIVE,
    actor=None,
) -> tuple[Advocate, bool]:
    """Enroll a customer; enrolling the same email again returns the existing advocate."""
    normalized = normalize_email(email)
    existing = Advocate.objects.filter(program=program, email_normalized=normalized).first()
    if existing:
        return existing, False
    if external_id and Advocate.objects.filter(program=program, external_id=external_id).exists():
        raise ServiceError(
            "external_id_taken",
            "Another advocate in this program has this external_id.",
            fields={"external_id": ["Already used by another advocate."]},
            status=409,
        )
    try:
        with transaction.atomic():
            advocate = Advocate.objects.create(
                program=program,
                email=email.strip(),
                email_normalized=normalized,
                name=name,
                external_id=external_id or None,
                locale=locale,
                user=user,
                status=status,
                coupon_code=None,
            )
            audit_log(
                action=AuditAction.ADVOCATE_ENROLLED, obj=advocate, program=program, actor=actor
            )
            # The referral layer gives the advocate their link and personal code here,
            # in this transaction.
            events.advocate_enrolled.send(sender=Advocate, advocate=advocate)
    except IntegrityError:
        # A concurrent request enrolled the same email first.
        existing = Advocate.objects.filter(program=program, email_normalized=normalized).first()
        if existing is None:
            raise
        return existing, False
    return advocate, True


def advocate_join(*, user, program: Program, accepted_terms: str | None = None) -> Advocate:
    """A signed-in user joins a program (or claims their invitation).

    When the program has terms, ``accepted_terms`` must name their current version
    (from the join form); the consent is stored with the version and the time.
    """
    if not program.is_active:
        raise ServiceError("program_inactive", "This program is not accepting advocates.")
    if (
        accepted_terms is not None
        and program.terms_version
        and (accepted_terms != program.terms_version)
    ):
        raise ServiceError("terms_not_accepted", "Please accept the program's terms to join.")
    with transaction.atomic():
        advocate = _join(user=user, program=program)
        if accepted_terms and program.terms_version:
            terms_accept(advocate=advocate, version=program.terms_version)
        return advocate


def terms_accept(*, advocate: Advocate, version: str) -> None:
    _, created = TermsAcceptance.objects.get_or_create(advocate=advocate, version=version)
    if created:
        audit_log(
            action=AuditAction.TERMS_ACCEPTED,
            obj=advocate,
            program=advocate.program,
            actor=advocate.user,
            data={"version": version},
        )


def _join(*, user, program: Program) -> Advocate:
    with transaction.atomic():
        advocate = (
            Advocate.objects.select_for_update()
            .filter(program=program, email_normalized=normalize_email(user.email))
            .first()
        )
        if advocate is None:
            if not program.open_enrollment:
                raise ServiceError("invitation_required", "This program is by invitation only.")
            advocate, _ = advocate_enroll(program=program, email=user.email, user=user, actor=user)
            return advocate
        if advocate.status == Advocate.Status.BANNED:
            raise ServiceError("advocate_banned", "This account cannot join the program.")
        changed = []
        if advocate.user_id is None:
            advocate.user = user
            changed.append("user")
        if advocate.status == Advocate.Status.INVITED:
            advocate.status = Advocate.Status.ACTIVE
            changed.append("status")
        if changed:
            advocate.save(update_fields=changed)
            audit_log(action=AuditAction.ADVOCATE_JOINED, obj=advocate, program=program, actor=user)
        return advocate


def advocate_set_status(*, advocate: Advocate, status: str, actor=None) -> Advocate:
    with transaction.atomic():
        locked = Advocate.objects.select_for_update().get(pk=advocate.pk)
        if locked.status != status:
            old = locked.status
            locked.status = status
            locked.save(update_fields=["status"])
            audit_log(
                action=AuditAction.ADVOCATE_STATUS_CHANGED,
                obj=locked,
                program=locked.program,
                actor=actor,
                data={"from": old, "to": status},
            )
    return locked


def advocate_update(*, advocate: Advocate, changed: list[str], actor=None) -> Advocate:
    """Save a manager's edits to an advocate, keeping the normalised email in step."""
    fields = [f for f in changed if f != "program"]
    if "email" in fields:
        advocate.email = advocate.email.strip()
        advocate.email_normalized = normalize_email(advocate.email)
        fields.append("email_normalized")
    if not fields:
        return advocate
    try:
        with transaction.atomic():
            advocate.save(update_fields=fields)
            audit_log(
                action=AuditAction.ADVOCATE_UPDATED,
                obj=advocate,
                program=advocate.program,
                actor=actor,
                data={"fields": sorted(fields)},
            )
    except IntegrityError as exc:
        raise ServiceError(
            "advocate_conflict", "Another advocate in this program has this email or id."
        ) from exc
    return advocate


def advocate_claim_invitations(*, user, email: str) -> list[Advocate]:
    """A verified email address claims the invitations sent to it: the user joins those programs."""
    joined = []
    invited = Advocate.objects.filter(
        email_normalized=normalize_email(email), user__isnull=True
    ).select_related("program")
    for advocate in invited:
        if advocate.program.terms_version:
            # Terms need an explicit "I accept": link the account now, and the
            # join page (with the terms) completes the invitation.
            Advocate.objects.filter(pk=advocate.pk, user__isnull=True).update(user=user)
            continue
        try:
            joined.append(advocate_join(user=user, program=advocate.program))
        except ServiceError:
            continue  # a banned advocate or a closed program: nothing to claim
    return joined


def advocate_locale_set(*, user, locale: str) -> None:
    """The language of the user's portal and emails, in every program they belong to."""
    Advocate.objects.filter(user=user).exclude(locale=locale).update(locale=locale)


def program_save(*, program: Program, actor, changed: list[str] | None = None) -> Program:
    """Create or update a program from the admin; a manager who creates one owns it."""
    created = program._state.adding
    with transaction.atomic():
        program.save()
        if created and actor is not None and not actor.is_superuser:
            ProgramMembership.objects.get_or_create(
                program=program, user=actor, defaults={"role": ProgramMembership.Role.OWNER}
            )
        audit_log(
            action=AuditAction.PROGRAM_CREATED if created else AuditAction.PROGRAM_UPDATED,
            obj=program,
            program=program,
            actor=actor,
            data={"fields": sorted(changed or [])},
        )
    return program


def _part_audit(*, obj, actor, deleted: bool) -> None:
    program = obj.program
    if isinstance(obj, ProgramMembership):
        audit_log(
            action=AuditAction.MEMBERSHIP_CHANGED,
            obj=program,
            program=program,
            actor=actor,
            data={"user": obj.user_id, "role": None if deleted else obj.role},
        )
        return
    audit_log(
        action=AuditAction.PROGRAM_UPDATED,
        obj=program,
        program=program,
        actor=actor,
        data={"part": obj._meta.model_name, "id": obj.pk, "deleted": deleted},
    )


def program_part_save(*, obj: ProgramMembership | ProgramFAQ | ShareMessage, actor) -> None:
    """Save a manager, an FAQ or a share message of a program, with an audit row."""
    with transaction.atomic():
        obj.save()
        _part_audit(obj=obj, actor=actor, deleted=False)


def program_part_delete(*, obj: ProgramMembership | ProgramFAQ | ShareMessage, actor) -> None:
    """Remove a manager, an FAQ or a share message of a program, with an audit row."""
    with transaction.atomic():
        _part_audit(obj=obj, actor=actor, deleted=True)
        obj.delete()
