"""Beat: flagged rewards nobody reviewed by the deadline get the program's default."""

from celery import shared_task

from .services import reviews_past_deadline


@shared_task(name="fraud.tasks.decide_overdue_reviews", acks_late=True)
def decide_overdue_reviews() -> int:
    return reviews_past_deadline()
