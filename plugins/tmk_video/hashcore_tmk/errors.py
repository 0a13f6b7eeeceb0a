"""Errors raised for inputs the TMK+PDQF hasher cannot use."""


class TmkError(ValueError):
    """A video or ``.tmk`` file cannot be hashed, read or compared.

    A ``ValueError`` so callers that treat bad input generically still catch it; the message
    names the reason (no video stream, undecodable data, malformed ``.tmk`` field, ...).
    """
