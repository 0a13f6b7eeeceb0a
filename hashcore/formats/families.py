"""The one table that maps partner spellings of hash algorithms onto our family names.

Every format resolves types through :class:`FamilyResolver`, so ``VideoMD5``, ``HASH_MD5`` and
``video_md5`` are the same family everywhere, and a new spelling is added here once.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from hashcore.errors import InvalidInput
from hashcore.formats.records import Problem, Skip
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal

ALIASES: Final[dict[str, str]] = {
    # PDQ
    "pdq": "pdq",
    "imagepdq": "pdq",
    "hash_pdq": "pdq",
    "photo_pdq": "pdq",
    # MD5 (we hash any file's bytes, so image and video MD5 are one family)
    "md5": "md5",
    "video_md5": "md5",
    "videomd5": "md5",
    "photo_md5": "md5",
    "imagemd5": "md5",
    "hash_md5": "md5",
    "hash_video_md5": "md5",
    "hash_photo_md5": "md5",
    # TMK+PDQF video features
    "tmk_pdqf": "tmk_pdqf",
    "tmk": "tmk_pdqf",
    "videotmk": "tmk_pdqf",
    "hash_tmk": "tmk_pdqf",
    "video_tmk_pdqf": "tmk_pdqf",
    # vPDQ video features (pytx ``vpdq``, formerly ``video_vpdq``; ThreatExchange HASH_VIDEO_VPDQ)
    "vpdq": "vpdq",
    "hash_vpdq": "vpdq",
    "video_vpdq": "vpdq",
    "videovpdq": "vpdq",
    "hash_video_vpdq": "vpdq",
    # pHash (imagehash)
    "phash": "phash",
    # Kept if a plugin provides them, else counted as unsupported
    "sha1": "sha1",
    "hash_sha1": "sha1",
    "sha256": "sha256",
    "hash_sha256": "sha256",
    "sha512": "sha512",
    "hash_sha512": "sha512",
    "photodna": "photodna",
    "pdna": "photodna",
    "hash_photodna": "photodna",
    "videntifier": "videntifier",
    # Not hashes of content at all (StopNCII, ThreatExchange)
    "text": "text",
    "raw_text": "text",
    "url": "url",
    "uri": "url",
}
"""Partner spelling (lower-cased, ``-`` as ``_``) to family name."""

_REDACT = re.compile(r"'[^']*'|\"[^\"]*\"")
_SAFE_TYPE = re.compile(r"[^A-Za-z0-9_.:+-]")


def canonical_family(raw_type: str) -> str | None:
    """Our family name for a partner's type spelling, or ``None`` if we have never heard of it."""
    key = raw_type.strip().lower().replace("-", "_")
    return ALIASES.get(key)


def safe_type_name(raw_type: object) -> str:
    """A partner type name fit for a report: printable, short, never a value in disguise."""
    text = _SAFE_TYPE.sub("?", str(raw_type))
    return text if len(text) <= 40 else text[:40] + "..."


def redact(message: str) -> str:
    """An error message with quoted text removed: parse errors may quote the hash value."""
    return _REDACT.sub("<value>", message)


class FamilyResolver:
    """Turns (partner type, value) into a :class:`Signal`, a :class:`Skip` or a :class:`Problem`.

    Known families without a loaded plugin (sha1, photodna...) become a ``Skip`` counted by
    family; types nobody knows become a ``Problem``, so ``--strict`` stops on them.
    """

    def __init__(self, registry: SignalRegistry) -> None:
        self.registry = registry
        self._known: dict[str, str | Skip] = {}
        """Answers for spellings already met: a feed repeats a handful millions of times."""

    def family(self, raw_type: str, position: str) -> str | Skip | Problem:
        """The loaded family for ``raw_type``, or why it cannot be used."""
        known = self._known.get(raw_type) if isinstance(raw_type, str) else None
        if known is not None:
            return known
        found = self._family(raw_type, position)
        if isinstance(raw_type, str) and not isinstance(found, Problem) and len(self._known) < 256:
            self._known[raw_type] = found
        return found

    def _family(self, raw_type: str, position: str) -> str | Skip | Problem:
        name = canonical_family(raw_type) if isinstance(raw_type, str) else None
        if name is None and isinstance(raw_type, str) and raw_type in self.registry:
            name = raw_type  # a third-party plugin family no partner spelling maps to yet
        if name is None:
            return Problem(position, f"unknown signal type {safe_type_name(raw_type)!r}")
        if name not in self.registry:
            return Skip(f"unsupported family {name}")
        return name

    def signal(self, raw_type: str, value: object, position: str) -> Signal | Skip | Problem:
        """A validated signal from partner text (hex) or raw bytes."""
        family = self.family(raw_type, position)
        if not isinstance(family, str):
            return family
        return self.value(family, value, position)

    def value(self, family: str, value: object, position: str) -> Signal | Problem:
        """Validate ``value`` (text is parsed, bytes are checked) for a loaded ``family``."""
        data = self.checked(family, value, position)
        return data if isinstance(data, Problem) else Signal(family, data)

    def checked(self, family: str, value: object, position: str) -> bytes | Problem:
        """:meth:`value`'s bytes, without the signal (formats parsing into columns)."""
        signal_type = self.registry.get(family)
        try:
            if isinstance(value, bytes | bytearray):
                return signal_type.validate(bytes(value))
            if isinstance(value, str):
                return signal_type.parse(value)
            return Problem(position, f"{family}: missing or non-text hash value")
        except InvalidInput as error:
            return Problem(position, f"malformed {family} value: {redact(error.message)}")


def value_key(signal: Signal) -> str:
    """A stable external id for feeds without one: ``family:hex`` (a digest for big values)."""
    if len(signal.value) <= 64:
        return f"{signal.type}:{signal.value.hex()}"
    return f"{signal.type}:sha256:{hashlib.sha256(signal.value).hexdigest()}"
