"""The base of every error execo_g5k raises: `G5kError`, itself an
`execo.exception.ExecoError` (see there: builtins kept as second bases,
data carried as attributes)."""

from __future__ import annotations

from execo.exception import ExecoError, ExecoKeyError, ExecoValueError

__all__ = ["G5kError", "G5kKeyError", "G5kValueError"]


class G5kError(ExecoError):
    """Base of every error raised by execo_g5k."""


class G5kValueError(G5kError, ExecoValueError):
    """A value execo_g5k cannot use (a job spec, a date, an OAR output...)."""


class G5kKeyError(G5kError, ExecoKeyError):
    """A name execo_g5k does not know (a site, a cluster...)."""
