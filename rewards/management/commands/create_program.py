import json
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.errors import ServiceError
from core.money import MoneyError, to_minor
from rewards.services import program_create_with_offer


class Command(BaseCommand):
    help = "Create a referral program and print its API keys as JSON (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--landing-url", required=True)
        parser.add_argument("--allowed-domain", action="append", default=[], dest="domains")
        parser.add_argument("--currency", default="EUR")
        parser.add_argument("--advocate-reward", default="0", help="e.g. 10.00")
        parser.add_argument("--friend-discount-percent", type=int, default=0)
        parser.add_argument("--hold-days", type=int, default=14)
        parser.add_argument("--attribution-days", type=int, default=30)

    def handle(self, *args, **o):
        currency = o["currency"].upper()
        try:
            reward_minor = to_minor(Decimal(o["advocate_reward"]), currency)
            program, secret, publishable = program_create_with_offer(
                name=o["name"],
                landing_url=o["landing_url"],
                allowed_domains=o["domains"],
                currency=currency,
                advocate_reward_minor=reward_minor,
                friend_discount_percent=o["friend_discount_percent"],
                hold_days=o["hold_days"],
                attribution_window_days=o["attribution_days"],
            )
        except (MoneyError, ArithmeticError) as exc:
            raise CommandError(f"--advocate-reward: {exc}") from exc
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from exc
        self.stdout.write(
            json.dumps(
                {"program": program.slug, "secret_key": secret, "publishable_key": publishable}
            )
        )
