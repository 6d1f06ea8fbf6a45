"""Errors of the SMART server: OAuth errors carry RFC 6749/7591 codes (authlib's classes),
the rest are this package's own."""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error


class SmartError(Exception):
    """Base of the package's own errors (not OAuth responses)."""


class ManifestError(SmartError):
    """The manifest recorded on chain cannot be fetched, does not match its digest, or does not
    parse as a manifest."""


class ScopeSyntaxError(SmartError):
    """A scope string that is not SMART v1/v2 grammar nor one of the launch/OIDC scopes."""


class LaunchRefusedError(OAuth2Error):
    """The user may not launch this app here (institution did not install it, app not Live,
    launch context of someone else): RFC 6749 ``access_denied``."""

    error = "access_denied"
    status_code = 403
