"""Partner bank formats: files and APIs in, canonical ordered updates out, applied in batches.

A format (``ncmec``, ``stopncii``, ``threatexchange``, ``pytx-csv``, ``pytx-local``, ``tat``,
``csv``, ``hashcore``) yields :class:`BankUpdate`, :class:`Problem`, :class:`Skip` and
:class:`Checkpoint` items; :func:`hashcore.formats.importer.import_updates` applies them to an
engine. Third-party formats subclass :class:`BankFormat` and return it from the
``hashcore_bank_formats`` hook.
"""

from hashcore.formats.base import BankFormat, get_format, load_formats
from hashcore.formats.families import ALIASES, FamilyResolver, canonical_family
from hashcore.formats.http import HttpClient
from hashcore.formats.records import (
    BankSettings,
    BankUpdate,
    Checkpoint,
    Item,
    Op,
    Opinion,
    Problem,
    Skip,
)

__all__ = [
    "ALIASES",
    "BankFormat",
    "BankSettings",
    "BankUpdate",
    "Checkpoint",
    "FamilyResolver",
    "HttpClient",
    "Item",
    "Op",
    "Opinion",
    "Problem",
    "Skip",
    "canonical_family",
    "get_format",
    "load_formats",
]
