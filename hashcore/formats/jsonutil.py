"""Reading whole JSON documents from partner files, with a size limit and positions."""

from __future__ import annotations

import json
from typing import IO, Any

from hashcore.errors import LimitExceeded
from hashcore.formats.records import Problem

MAX_DOCUMENT = 512 << 20
"""JSON page formats are read whole; a page is small, so anything this big is a mistake."""


def load_document(stream: IO[bytes], where: str) -> Any | Problem:
    """The parsed document, or a :class:`Problem` saying where the JSON broke."""
    body = stream.read(MAX_DOCUMENT + 1)
    if len(body) > MAX_DOCUMENT:
        raise LimitExceeded(f"{where}: JSON document over {MAX_DOCUMENT} bytes")
    return parse_document(body, where)


def parse_document(body: bytes, where: str) -> Any | Problem:
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        return Problem(where, "not UTF-8 text")
    except json.JSONDecodeError as error:
        return Problem(
            f"{where} line {error.lineno} column {error.colno}", f"malformed JSON: {error.msg}"
        )
    except RecursionError:
        return Problem(where, "JSON nested too deeply")
