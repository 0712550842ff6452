"""The admin registrations for the domain layers, one module per layer."""

from . import emails, programs, referrals, rewards

__all__ = ["emails", "programs", "referrals", "rewards"]
