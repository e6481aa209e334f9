"""The version of the installed ``trio-supervisor`` distribution."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "trio-supervisor"

# What a source tree that was never installed reports (a PEP 440 local version,
# so tools comparing versions still parse it).
UNKNOWN = "0+unknown"


def installed_version() -> str:
    """The version pip installed, read from the distribution's metadata."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # imported from a checkout put on sys.path
        return UNKNOWN


__version__ = installed_version()
