"""The kit's own input errors.

Every check of a caller's input (dtypes, shapes, option values, flags, paths) raises one of
these. They subclass the built-in ``TypeError`` / ``ValueError``, so ``except ValueError``
keeps working for users, while the ``crossent`` CLI can tell a usage error (one line, exit
status 2) from a bug in the kit (a traceback): it catches :class:`InputError` only.
"""

from __future__ import annotations


class InputError(Exception):
    """Base of every error about the caller's input (never raised directly)."""


class InputTypeError(InputError, TypeError):
    """An argument of the wrong type or dtype; the message names what was received."""


class InputValueError(InputError, ValueError):
    """A wrong value, shape, axis, option or path; the message names what was received."""
