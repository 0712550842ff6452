"""Where the current code runs, transaction-wise."""

from django.db import transaction


def in_transaction(using=None) -> bool:
    """Whether an atomic block of the application's is open (a test case's own block,
    which stands in for autocommit in the test suite, does not count)."""
    connection = transaction.get_connection(using)
    return any(not getattr(b, "_from_testcase", False) for b in connection.atomic_blocks)
