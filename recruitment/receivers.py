"""Recruitment's answers to what the layers below announce."""

from django.dispatch import receiver

from advocacy import events as advocacy_events

from .campaigns import recipients_mark_joined
from .models import Customer
from .services import advocate_link_customers


@receiver(advocacy_events.advocate_enrolled, dispatch_uid="recruitment.link_customers")
def link_new_advocate_to_customers(sender, advocate, **kwargs):
    # Whichever arrives first: a customer upsert links to existing advocates, and a
    # new advocate links to existing customers here (external id or verified email).
    if advocate_link_customers(advocate=advocate) and advocate.status == advocate.Status.ACTIVE:
        ids = list(Customer.objects.filter(advocate=advocate).values_list("pk", flat=True))
        recipients_mark_joined(customer_ids=ids)
