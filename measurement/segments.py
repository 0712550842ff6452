"""Which customers a recruitment segment holds, as measurement's customer keys.

Recruitment owns segments and their filter language
(``recruitment.selectors.segment_customers``); measurement needs only "is this
customer in the segment?".
"""

from recruitment.models import Segment
from recruitment.selectors import segment_customers


def segment_keys(segment: Segment) -> frozenset[str]:
    """The customer keys (external ids and normalised emails) of the segment's customers."""
    keys: set[str] = set()
    for external_id, email in segment_customers(segment).values_list(
        "external_id", "email_normalized"
    ):
        if external_id:
            keys.add(external_id)
        if email:
            keys.add(email)
    return frozenset(keys)
