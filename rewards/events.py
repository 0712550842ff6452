"""What the rewards layer announces to the layers above (merchant webhooks, nurture).

Each signal is sent inside the transaction of the change; receivers connect
in their app's ``ready()``.
"""

from django.dispatch import Signal

reward_issued = Signal()  # reward=Reward
reward_reversed = Signal()  # reward=Reward (in part or in full)
payout_paid = Signal()  # payout=Payout
