import secrets
import uuid
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from advocacy.models import Advocate, ApiKey, Program, ProgramMembership, hash_key
from advocacy.services import advocate_enroll, api_key_create, program_save
from core.hashing import fingerprint
from nurture import demo as nurture_demo
from recruitment import demo as recruitment_demo
from referrals.models import Click, ReferralLink
from referrals.services import referral_url
from rewards.flows import conversion_record, referral_create
from rewards.services import program_create_with_offer
from storefront import demo

FRIENDS = [
    ("ana.popescu@example.com", 5990, "RO-1001"),
    ("lars.berg@example.com", 12900, "NO-1002"),
    ("wang.fang@example.com", 8800, "CN-1003"),
]


class Command(BaseCommand):
    help = (
        "Create (or refresh) the demo program, a manager, advocates, clicks and conversions. "
        "Its admin password and API keys are the README's: with DEBUG=0 it refuses, unless "
        "--allow-production, which makes fresh random ones and prints them once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="With DEBUG=0: seed anyway, with a random admin password and random keys.",
        )

    def handle(self, *args, **options):
        # The published credentials are for a machine of one's own, never a real site.
        self.published = settings.DEBUG
        if not self.published and not options["allow_production"]:
            raise CommandError(
                "seed_demo creates an admin and API keys whose secrets are published in the "
                "README, so with DEBUG=0 it refuses. Pass --allow-production to seed with a "
                "random admin password and random keys, printed once."
            )
        self.secret = demo.DEMO_SECRET_KEY if self.published else None
        self.publishable = demo.DEMO_PUBLISHABLE_KEY if self.published else None
        self.password = demo.DEMO_ADMIN_PASSWORD if self.published else secrets.token_urlsafe(18)
        with transaction.atomic():
            program, created = self._program()
            self._admin(program)
            if created:
                self._activity(program)
            recruitment_demo.seed(program=program)
            nurture_demo.seed(program=program)
        self._summary(program, created)

    def _program(self):
        program = Program.objects.filter(slug=demo.DEMO_SLUG).first()
        if program:
            self._follow_port(program)
            return program, False
        program, secret, publishable = program_create_with_offer(
            slug=demo.DEMO_SLUG,
            name="Demo Shop Friends",
            landing_url=f"{settings.SITE_URL}/demo-shop/",
            allowed_domains=["127.0.0.1", "localhost"],
            currency="EUR",
            advocate_reward_minor=1000,
            friend_discount_percent=10,
            hold_days=14,
            attribution_window_days=30,
        )
        if not self.published:
            self.secret, self.publishable = secret, publishable  # random, printed once
            return program, True
        # Replace the random keys with the documented demo keys.
        program.api_keys.all().delete()
        api_key_create(program=program, kind=ApiKey.Kind.SECRET, raw=demo.DEMO_SECRET_KEY)
        api_key_create(program=program, kind=ApiKey.Kind.PUBLISHABLE, raw=demo.DEMO_PUBLISHABLE_KEY)
        return program, True

    def _follow_port(self, program):
        """The demo's links lead to the shop on the port served now (``make run PORT=…``)."""
        landing = f"{settings.SITE_URL}/demo-shop/"
        if program.landing_url != landing:
            program.landing_url = landing
            program_save(program=program, actor=None, changed=["landing_url"])

    def _admin(self, program):
        User = get_user_model()
        user = User.objects.filter(username="admin").first()
        if user is None:
            user = User.objects.create_superuser("admin", demo.DEMO_ADMIN_EMAIL, self.password)
        elif not self.published:
            self.password = "(as set before)"  # noqa: S105 - a label, not a password
        ProgramMembership.objects.get_or_create(
            program=program, user=user, defaults={"role": ProgramMembership.Role.OWNER}
        )
        EmailAddress.objects.get_or_create(
            user=user, email=user.email, defaults={"verified": True, "primary": True}
        )

    def _activity(self, program):
        jane, _ = advocate_enroll(program=program, email="jane@example.com", name="Jane Advocate")
        link = jane.links.get()
        ReferralLink.objects.filter(pk=link.pk).update(code=demo.DEMO_ADVOCATE_CODE)
        # Jane lets friends find her by name at the demo shop's checkout ("Jane A., Bergen").
        Advocate.objects.filter(pk=jane.pk).update(
            coupon_code=demo.DEMO_ADVOCATE_CODE,
            findable=True,
            city="Bergen",
            findable_show_city=True,
        )
        link.refresh_from_db()
        advocate_enroll(program=program, email="olav@example.com", name="Olav Advocate")
        now = timezone.now()
        for i, (email, amount, order) in enumerate(FRIENDS):
            click = Click.objects.create(
                id=uuid.uuid4(),
                program=program,
                link=link,
                advocate=jane,
                channel=["email", "whatsapp", "x"][i],
                placement=["email_invitation", "post_purchase", "widget"][i],
                created_at=now - timedelta(days=3 - i),
            )
            referral_create(program=program, friend_email=email, click_id=click.id)
            if i < 2:
                conversion_record(
                    program=program,
                    order_id=order,
                    amount_minor=amount,
                    currency="EUR",
                    customer_email=email,
                    click_id=click.id,
                    fingerprint=fingerprint({"demo": order}),
                )

    def _summary(self, program, created: bool):
        if self.published:
            assert ApiKey.objects.filter(key_hash=hash_key(demo.DEMO_SECRET_KEY)).exists()
        site = settings.SITE_URL
        keys = "(created earlier; not shown again)"
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Demo program ready:",
                    f"  Admin (program managers): {site}/admin/  login: {demo.DEMO_ADMIN_EMAIL} / "
                    f"{self.password}",
                    f"  Advocate portal:          {site}/  (sign up; emails print here)",
                    f"  API docs:                 {site}/api/docs/",
                    f"  Demo referral link:       {referral_url(demo.DEMO_ADVOCATE_CODE)}",
                    f"  Secret key:               {self.secret or keys}",
                    f"  Publishable key:          {self.publishable or keys}",
                    "",
                ]
            )
        )
