"""``ImportUpdates``: a partner feed file, parsed and applied on the server.

The feed's bytes arrive in the request and are parsed in memory by the same format plugins and
importer ``hashcore import`` uses, so a remote import and a local one give the same result.
"""

from __future__ import annotations

import io

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.errors import InvalidInput, NotFound
from hashcore.formats.base import get_format
from hashcore.formats.importer import MAX_DELETE_FRACTION, import_updates
from hashcore.remote.client import ALLOW_MASS_DELETE
from hashcore_server.calls import State

MAX_PROBLEMS = 100


def import_feed(state: State, request: pb.ImportUpdatesRequest) -> pb.ImportUpdatesResponse:
    if not request.format:
        raise InvalidInput("a feed format is required", field="format")
    if not request.bank:
        raise InvalidInput("a bank name is required", field="bank")
    options = dict(request.options)
    allow_mass_delete = options.pop(ALLOW_MASS_DELETE, "").lower() in ("1", "true", "yes")
    fmt = get_format(request.format, state.registry, options)
    if not fmt.can_read():
        raise InvalidInput(f"format {request.format!r} cannot read files", field="format")
    engine = state.require_engine()
    try:
        engine.get_bank(request.bank)
    except NotFound:
        engine.create_bank(request.bank, source=fmt.source_name)
    summary = import_updates(
        engine,
        request.bank,
        fmt.read_columns(io.BytesIO(request.data)),
        max_delete_fraction=None if allow_mass_delete else MAX_DELETE_FRACTION,
    )
    metrics = state.metrics.imports
    for outcome in ("added", "updated", "deleted", "unchanged", "not_held"):
        metrics.labels(outcome).inc(getattr(summary, outcome))
    metrics.labels("skipped").inc(sum(summary.skipped.values()))
    return pb.ImportUpdatesResponse(
        added=summary.added,
        updated=summary.updated,
        deleted=summary.deleted,
        unchanged=summary.unchanged,
        not_held=summary.not_held,
        skipped=dict(summary.skipped),
        problems=[
            pb.ImportProblem(position=p.position, reason=p.reason)
            for p in summary.problems[:MAX_PROBLEMS]
        ],
        problem_count=summary.problem_count,
    )
