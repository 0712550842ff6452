import json
from datetime import UTC

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from advocacy.models import Program
from core.errors import ServiceError
from measurement import selectors


class Command(BaseCommand):
    help = "Print a program's metrics for a period as the JSON of GET /api/v1/metrics."

    def add_arguments(self, parser):
        parser.add_argument("--program", required=True, help="The program's slug.")
        parser.add_argument("--from", dest="date_from", help="First day, YYYY-MM-DD (UTC).")
        parser.add_argument("--to", dest="date_to", help="Last day, YYYY-MM-DD (UTC), included.")

    def handle(self, *args, **options):
        program = Program.objects.filter(slug=options["program"]).first()
        if program is None:
            raise CommandError(f"No program with slug {options['program']!r}.")
        try:
            period = selectors.period_parse(
                options["date_from"],
                options["date_to"],
                today=timezone.now().astimezone(UTC).date(),
            )
        except ServiceError as exc:
            raise CommandError(f"{exc.message} {exc.fields or ''}".strip()) from exc
        answer = selectors.program_metrics(
            program=program, date_from=period.date_from, date_to=period.date_to
        )
        self.stdout.write(json.dumps(answer, indent=2))
