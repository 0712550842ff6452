"""The admin registrations for the domain layers, one module per layer."""

from . import programs, referrals, rewards

__all__ = ["programs", "referrals", "rewards"]
