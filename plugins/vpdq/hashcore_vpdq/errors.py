"""Errors raised for inputs the vPDQ hasher cannot use."""

from hashcore import ContentError


class VpdqError(ContentError):
    """A video or a vPDQ feature cannot be hashed or read.

    A :class:`hashcore.ContentError`, so the hashing pipeline reports it per file and the other
    families still hash; the message names the reason.
    """
