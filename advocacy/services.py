"""Writes for programs, API keys and advocates."""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from integrations import events

from .audit import audit_log
from .errors import ServiceError, Unprocessable
from .models import Advocate, ApiKey, Program, ProgramMembership, hash_key, random_code
from .money import CURRENCY_EXPONENTS
from .normalize import normalize_email

LAST_USED_RESOLUTION = timedelta(minutes=1)


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
    advocate_reward_minor: int = 0,
    friend_discount_percent: int = 0,
    hold_days: int = 14,
    attribution_window_days: int = 30,
    slug: str | None = None,
    owner=None,
) -> tuple[Program, str, str]:
    """Create a program with one secret and one publishable key; returns the raw keys."""
    if currency not in CURRENCY_EXPONENTS:
        raise Unprocessable("unsupported_currency", f"Unsupported currency {currency!r}.")
    if advocate_reward_minor < 0:
        raise Unprocessable("invalid_reward", "The advocate reward cannot be negative.")
    if not 0 <= friend_discount_percent <= 100:
        raise Unprocessable("invalid_discount", "The friend discount is a percentage, 0-100.")
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
    _default_rules(program, advocate_reward_minor, friend_discount_percent)
    if owner is not None:
        ProgramMembership.objects.create(
            program=program, user=owner, role=ProgramMembership.Role.OWNER
        )
    _, secret = api_key_create(program=program, kind=ApiKey.Kind.SECRET, name="default")
    _, publishable = api_key_create(program=program, kind=ApiKey.Kind.PUBLISHABLE, name="default")
    audit_log(action="program.created", obj=program, program=program, actor=owner)
    return program, secret, publishable


def _default_rules(program: Program, advocate_reward_minor: int, friend_percent: int) -> None:
    """The classic double-sided offer: cash for the advocate, a discount for the friend."""
    from rewards.models import RewardRule

    if advocate_reward_minor:
        RewardRule.objects.create(
            program=program,
            name="Advocate reward",
            trigger=RewardRule.Trigger.FIRST_PURCHASE,
            recipient=RewardRule.Recipient.ADVOCATE,
            kind=RewardRule.Kind.CASH,
            amount_minor=advocate_reward_minor,
        )
    if friend_percent:
        RewardRule.objects.create(
            program=program,
            name="Friend discount",
            trigger=RewardRule.Trigger.SIGNUP,
            recipient=RewardRule.Recipient.FRIEND,
            kind=RewardRule.Kind.COUPON,
            coupon_percent_off=friend_percent,
        )


def api_key_create(
    *, program: Program, kind: str, name: str = "", raw: str | None = None, actor=None
) -> tuple[ApiKey, str]:
    """Create an API key; the raw key is returned once and only its hash is kept."""
    raw = raw or ApiKey.generate_raw(kind)
    if not raw.startswith(ApiKey.PREFIXES[kind]):
        raise ServiceError("invalid_key", "Key prefix does not match its kind.")
    key = ApiKey.objects.create(
        program=program, kind=kind, name=name, prefix=raw[:10], key_hash=hash_key(raw)
    )
    audit_log(action="api_key.created", obj=key, program=program, actor=actor)
    return key, raw


def api_key_revoke(*, key: ApiKey, actor=None) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_log(action="api_key.revoked", obj=key, program=key.program, actor=actor)


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The active key matching ``raw``, with its program; records when it was last used."""
    if not raw or not raw.startswith(("sk_", "pk_")) or len(raw) > 100:
        return None
    key = (
        ApiKey.objects.select_related("program")
        .filter(key_hash=hash_key(raw), revoked_at__isnull=True)
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    # Write at most once a minute per key, not on every request.
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def _new_link_code() -> str:
    from referrals.models import ReferralLink

    for _ in range(10):
        code = random_code(8)
        if not ReferralLink.objects.filter(code=code).exists():
            return code
    raise RuntimeError("Could not find a free referral code.")  # pragma: no cover


def _create_primary_link(advocate: Advocate):
    from referrals.models import ReferralLink

    # The unique index is the real guard; retry in the (rare) race for a code.
    for _ in range(5):
        try:
            with transaction.atomic():
                return ReferralLink.objects.create(
                    program=advocate.program, advocate=advocate, code=_new_link_code()
                )
        except IntegrityError:
            continue
    raise RuntimeError("Could not create a referral link.")  # pragma: no cover


def advocate_primary_link(advocate: Advocate):
    link = advocate.links.filter(is_active=True).order_by("created_at").first()
    return link or _create_primary_link(advocate)


def referral_url(code: str) -> str:
    return f"{settings.SITE_URL}/r/{code}"


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
            link = _create_primary_link(advocate)
            advocate.coupon_code = link.code
            advocate.save(update_fields=["coupon_code"])
            audit_log(action="advocate.enrolled", obj=advocate, program=program, actor=actor)
            events.advocate_enrolled(advocate, link)
    except IntegrityError:
        # A concurrent request enrolled the same email first.
        existing = Advocate.objects.filter(program=program, email_normalized=normalized).first()
        if existing is None:
            raise
        return existing, False
    return advocate, True


def advocate_invite(*, program: Program, email: str, name: str = "", actor=None) -> Advocate:
    """Create an invited advocate and email the invitation after commit."""
    from .tasks import send_invitation

    with transaction.atomic():
        advocate, _ = advocate_enroll(
            program=program, email=email, name=name, status=Advocate.Status.INVITED, actor=actor
        )
        if advocate.invitation_sent_at is None:
            transaction.on_commit(lambda: send_invitation.delay(advocate.pk))
    return advocate


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
    from .models import TermsAcceptance

    _, created = TermsAcceptance.objects.get_or_create(advocate=advocate, version=version)
    if created:
        audit_log(
            action="terms.accepted",
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
            audit_log(action="advocate.joined", obj=advocate, program=program, actor=user)
        return advocate


def advocate_set_status(*, advocate: Advocate, status: str, actor=None) -> Advocate:
    with transaction.atomic():
        locked = Advocate.objects.select_for_update().get(pk=advocate.pk)
        if locked.status != status:
            old = locked.status
            locked.status = status
            locked.save(update_fields=["status"])
            audit_log(
                action="advocate.status_changed",
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
                action="advocate.updated",
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
