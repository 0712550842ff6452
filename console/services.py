"""The console's own use cases: setting a program up in one step, publishing it.

Each composes the domain services in one transaction; nothing here writes
money (that stays in ``rewards``).
"""

from django.db import transaction

from advocacy.models import Advocate, ApiKey, Program
from advocacy.services import advocate_enroll, api_key_create, program_save
from rewards.models import CouponPool, RewardRule
from rewards.services import coupon_pool_save, program_create_with_offer, reward_rule_save

# Where the friend's coupon code comes from (docs/integration.md, "Friend coupons").
PERSONAL, STRIPE, POOL = "personal", "stripe", "pool"


@transaction.atomic
def program_setup(
    *,
    name: str,
    landing_url: str,
    allowed_domains: list[str],
    currency: str,
    advocate_reward_minor: int,
    friend_discount_percent: int,
    hold_days: int,
    attribution_window_days: int,
    logo_url: str = "",
    brand_color: str = "",
    friend_coupon_source: str = PERSONAL,
    actor=None,
) -> tuple[Program, str, str]:
    """A program, its double-sided offer (two rules) and both API keys, as a draft.

    A draft is not public: open enrollment stays off until the manager publishes it.
    Returns the program and its raw secret and publishable keys (shown once).
    """
    program, secret, publishable = program_create_with_offer(
        name=name,
        landing_url=landing_url,
        allowed_domains=allowed_domains,
        currency=currency,
        hold_days=hold_days,
        attribution_window_days=attribution_window_days,
        advocate_reward_minor=advocate_reward_minor,
        friend_discount_percent=friend_discount_percent,
        owner=actor if getattr(actor, "is_authenticated", False) else None,
    )
    program.logo_url = logo_url
    program.brand_color = brand_color
    program.open_enrollment = False
    program_save(
        program=program, actor=actor, changed=["open_enrollment", "logo_url", "brand_color"]
    )
    friend_rule = program.reward_rules.filter(recipient=RewardRule.Recipient.FRIEND).first()
    if friend_rule is not None and friend_coupon_source == STRIPE:
        friend_rule.stripe_promotion_codes = True
        reward_rule_save(rule=friend_rule, actor=actor, changed=["stripe_promotion_codes"])
    elif friend_rule is not None and friend_coupon_source == POOL:
        pool = coupon_pool_save(
            pool=CouponPool(program=program, name="Friend codes"), actor=actor, changed=["name"]
        )
        friend_rule.coupon_pool = pool
        reward_rule_save(rule=friend_rule, actor=actor, changed=["coupon_pool"])
    return program, secret, publishable


@transaction.atomic
def program_save_with_keys(*, program: Program, actor, changed: list[str]) -> tuple[str, str]:
    """Save a new program with its secret and publishable keys; returns the raw keys."""
    program_save(program=program, actor=actor, changed=changed)
    _, secret = api_key_create(
        program=program, kind=ApiKey.Kind.SECRET, name="default", actor=actor
    )
    _, publishable = api_key_create(
        program=program, kind=ApiKey.Kind.PUBLISHABLE, name="default", actor=actor
    )
    return secret, publishable


def program_publish(*, program: Program, actor) -> Program:
    """Open a draft program to customers (open enrollment on)."""
    if program.open_enrollment:
        return program
    program.open_enrollment = True
    return program_save(program=program, actor=actor, changed=["open_enrollment"])


def preview_advocate(*, program: Program, user) -> Advocate:
    """The manager's own advocate record in ``program``, to see the portal as advocates do."""
    advocate, _ = advocate_enroll(
        program=program, email=user.email, name=user.get_full_name(), user=user, actor=user
    )
    return advocate
