"""What programs and advocates announce to the layers above.

Each signal is sent inside the transaction of the change; a receiver that
raises rolls the change back. Receivers connect in their app's ``ready()``.
"""

from django.dispatch import Signal

# advocate=Advocate, just enrolled. The referral layer gives them a link and code.
advocate_enrolled = Signal()
