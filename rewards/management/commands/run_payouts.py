import json

from django.core.management.base import BaseCommand, CommandError

from advocacy.models import Program
from rewards.payouts import payouts_run


class Command(BaseCommand):
    help = "Group available cash above each program's minimum into payouts and send them."

    def add_arguments(self, parser):
        parser.add_argument("--program", help="Only this program (slug).")

    def handle(self, *args, **options):
        program = None
        if options["program"]:
            program = Program.objects.filter(slug=options["program"]).first()
            if program is None:
                raise CommandError(f"No program with slug {options['program']!r}.")
        run = payouts_run(program=program)
        self.stdout.write(json.dumps(run.as_dict()))
