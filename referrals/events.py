"""What the referral layer announces to the layers above (merchant webhooks, measurement).

Each signal is sent inside the transaction of the change; receivers connect in
their app's ``ready()``. Rewards are not issued through these: the flows in
``rewards.flows`` record the fact and apply the rules in one transaction.
"""

from django.dispatch import Signal

referral_created = Signal()  # referral=Referral
conversion_attributed = Signal()  # conversion=Conversion
