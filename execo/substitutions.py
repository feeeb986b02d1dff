"""execo 2.x's ``execo.substitutions`` path: its names are served from
where they live now (see `execo.compat`); substitution itself is
`execo.substitution`."""

from execo.compat import legacy_dir, legacy_getattr

__all__: list = []
__getattr__ = legacy_getattr(__name__)
__dir__ = legacy_dir(__name__, globals())
