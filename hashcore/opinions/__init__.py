"""Opinions on entries and the local false-positive exception list (issue 17, docs/sharing.md).

:mod:`~hashcore.opinions.model` says what an opinion is, :mod:`~hashcore.opinions.book` keeps
them in the store, :mod:`~hashcore.opinions.exceptions` applies false positives to lookups,
:mod:`~hashcore.opinions.upstream` sends them back to a followed hashcore and
:mod:`~hashcore.opinions.feedback` to partner APIs through the format plugins.
"""

from hashcore.opinions.model import NewOpinion, Opinion, OpinionKind, opinion_kind

__all__ = ["NewOpinion", "Opinion", "OpinionKind", "opinion_kind"]
