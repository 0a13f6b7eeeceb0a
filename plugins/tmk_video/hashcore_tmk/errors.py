"""Errors raised for inputs the TMK+PDQF hasher cannot use."""

from hashcore import ContentError


class TmkError(ContentError):
    """A video or ``.tmk`` file cannot be hashed, read or compared.

    A :class:`hashcore.ContentError`, so the hashing pipeline reports it per file like any other
    family's failure; the message names the reason (no video stream, undecodable data, malformed
    ``.tmk`` field, ...).
    """
