from celery import shared_task
from django.db import OperationalError

from . import services


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=10,
    max_retries=5,
)
def mature_reward(reward_id: int) -> bool:
    return services.reward_mature(reward_id=reward_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=10, max_retries=3)
def mature_rewards() -> int:
    """Beat task: make every reward whose hold period is over available."""
    return sum(services.reward_mature(reward_id=pk) for pk in services.reward_ids_due())
