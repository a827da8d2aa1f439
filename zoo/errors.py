"""The one error type for user errors: the CLI prints it as a single line."""

from __future__ import annotations


class ZooError(Exception):
    """A mistake the user can fix (unknown model, bad data, bad option); never a bug."""


class UnknownModelError(ZooError, LookupError):
    """A model name that is not registered; the message lists the closest names."""
