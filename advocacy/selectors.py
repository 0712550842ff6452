"""Reads for programs and advocates, always scoped to a program."""

from core.errors import NotFound

from .models import Advocate, Program


def advocate_get(*, program: Program, advocate_id) -> Advocate:
    """The advocate with this id in this program; another program's advocate is not found."""
    try:
        advocate_id = int(advocate_id)
    except (TypeError, ValueError):
        advocate_id = None
    advocate = Advocate.objects.filter(program=program, pk=advocate_id).first()
    if advocate is None:
        raise NotFound("advocate_not_found", "No advocate with this id in this program.")
    return advocate
