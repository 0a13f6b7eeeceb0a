"""API mode against a local partner server that fails once mid-way; the importer's batches.

The import target here is an in-memory double with the store's transaction semantics, so these
tests pin the importer and the formats whatever state the engine is in; test_formats_engine.py
runs the same flows against the real engine.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from hashcore.errors import InvalidInput, NotReady
from hashcore.formats import BankUpdate, Checkpoint, HttpClient, Problem, get_format
from hashcore.formats.http import origin
from hashcore.formats.importer import import_updates, stored_checkpoint
from hashcore.registry import SignalRegistry
from tests.formats_support import FakeTmk, MemoryTarget, PartnerServer
from tests.media_data import shared_file

MD5S = [f"{n:032x}" for n in range(1, 100)]
TMK_FILE = "tmk/reference/chair-19-sd-bar.tmk"
"""A real .tmk feature from the shared data set (``HASHCORE_SHARED_DATA``)."""


def ncmec_page(start: int, count: int, last: bool) -> bytes:
    entries = "".join(
        f"<image><member id='5'>M</member><timestamp>2026-03-0{1 + n % 3}T00:00:00Z</timestamp>"
        f"<id>e{n}</id><fingerprints><md5>{MD5S[n]}</md5></fingerprints></image>"
        for n in range(start, start + count)
    )
    paging = (
        ""
        if last
        else (
            f"<paging><next>/v2/entries?from=x&amp;to=y&amp;start={start + count}</next></paging>"
        )
    )
    return (
        f"<queryResult xmlns='https://hashsharing.ncmec.org/hashsharing/v2'><images>"
        f"{entries}</images>{paging}</queryResult>"
    ).encode()


def ncmec_route(path: str, query: dict[str, str]) -> tuple[int, bytes] | None:
    if path != "/v2/entries":
        return None
    start = int(query.get("start", "0"))
    return 200, ncmec_page(start, 10, last=start >= 20)


@pytest.fixture
def no_sleep_client() -> HttpClient:
    return HttpClient(retries=2, backoff=0.0, timeout=5.0)


def fetch_into(
    target: MemoryTarget,
    fmt_name: str,
    registry: SignalRegistry,
    url: str,
    client: HttpClient,
    **options: object,
) -> object:
    fmt = get_format(fmt_name, registry, options)
    key = f"fetch:{fmt_name}"
    checkpoint = stored_checkpoint(target, "b", key)
    return import_updates(
        target, "b", fmt.fetch(client, url, checkpoint), batch_size=7, checkpoint_source=key
    )


def test_ncmec_fetch_retries_a_500_transparently(
    registry: SignalRegistry, no_sleep_client: HttpClient
) -> None:
    server = PartnerServer(ncmec_route, fail={"/v2/entries?start=10": "500"})
    try:
        target = MemoryTarget()
        summary = fetch_into(target, "ncmec", registry, server.url, no_sleep_client)
    finally:
        server.close()
    assert set(target.entries("b")) == {f"5-e{n}" for n in range(30)}
    assert summary.added == 30  # type: ignore[attr-defined]
    assert server.log.count("/v2/entries?start=10") == 2
    state = json.loads(target.state["checkpoints"][("b", "fetch:ncmec")])
    assert state == {"from": "2026-03-03T00:00:00Z"}, "window max, once the window is read"


@pytest.mark.parametrize("failure", ["500", "drop"])
def test_ncmec_fetch_resumes_from_checkpoint_after_failure(
    registry: SignalRegistry, failure: str
) -> None:
    server = PartnerServer(ncmec_route, fail={"/v2/entries?start=20": failure})
    client = HttpClient(retries=0, backoff=0.0, timeout=5.0)
    target = MemoryTarget()
    try:
        with pytest.raises(NotReady):
            fetch_into(target, "ncmec", registry, server.url, client)
        # Pages 1 and 2 committed with a checkpoint pointing at page 3; nothing of page 3.
        assert set(target.entries("b")) == {f"5-e{n}" for n in range(20)}
        state = json.loads(target.state["checkpoints"][("b", "fetch:ncmec")])
        assert state["next"].endswith("start=20") and "max" in state
        server.log.clear()
        summary = fetch_into(target, "ncmec", registry, server.url, client)
    finally:
        server.close()
    assert server.log == ["/v2/entries?start=20"], "resumed at the page that failed"
    assert set(target.entries("b")) == {f"5-e{n}" for n in range(30)}
    assert summary.added == 10 and summary.updated == 0  # type: ignore[attr-defined]
    state = json.loads(target.state["checkpoints"][("b", "fetch:ncmec")])
    assert state == {"from": "2026-03-03T00:00:00Z"}


def test_ncmec_fetch_follows_tmk_link_with_basic_auth(registry: SignalRegistry) -> None:
    feature = shared_file(TMK_FILE).read_bytes()
    page = (
        b"<queryResult><videos><video><member id='77'>H</member>"
        b"<timestamp>2026-03-02T10:20:00Z</timestamp><id>v1</id><classification>A1</classification>"
        b"<fingerprints><md5>d41d8cd98f00b204e9800998ecf8427e</md5>"
        b"<tmk-pdqf rel='self' href='/v2/entries/v1/fingerprints/TMK_PDQF'/></fingerprints>"
        b"</video></videos></queryResult>"
    )

    def route(path: str, query: dict[str, str]) -> tuple[int, bytes] | None:
        if path == "/v2/entries":
            return 200, page
        if path == "/v2/entries/v1/fingerprints/TMK_PDQF":
            return 200, base64.b64encode(feature)
        return None

    server = PartnerServer(route)
    with_tmk = registry if "tmk_pdqf" in registry else SignalRegistry([*registry, FakeTmk()])
    fmt = get_format("ncmec", with_tmk)
    client = HttpClient(
        headers=fmt.auth_headers("user:pw"), auth_origin=origin(server.url), retries=0
    )
    try:
        items = list(fmt.fetch(client, server.url, None))
    finally:
        server.close()
    [update] = [i for i in items if isinstance(i, BankUpdate)]
    tmk = {s.type: s.value for s in update.signals}["tmk_pdqf"]
    assert tmk == feature
    assert all(h.get("Authorization", "").startswith("Basic ") for h in server.headers)
    assert isinstance(items[-1], Checkpoint)


def test_credentials_never_go_to_another_origin() -> None:
    seen: list[str] = []

    def route(path: str, query: dict[str, str]) -> tuple[int, bytes]:
        return 200, b"{}"

    server = PartnerServer(route)
    try:
        client = HttpClient(
            headers={"Authorization": "Basic c2VjcmV0"},
            auth_origin="http://partner.invalid",
            retries=0,
        )
        client.get(server.url + "/x")
        seen = [h.get("Authorization", "") for h in server.headers]
    finally:
        server.close()
    assert seen == [""]


def test_http_client_gives_up_after_retries_and_never_echoes_the_query() -> None:
    def route(path: str, query: dict[str, str]) -> tuple[int, bytes]:
        return 503, b""

    server = PartnerServer(route)
    waits: list[float] = []
    try:
        client = HttpClient(retries=2, backoff=0.5, sleep=waits.append)
        with pytest.raises(NotReady) as caught:
            client.get(server.url + "/feed?access_token=SECRET")
    finally:
        server.close()
    assert waits == [0.5, 1.0]
    assert (
        "SECRET" not in caught.value.message and "gave up after 3 attempts" in caught.value.message
    )


def test_http_client_refuses_other_schemes() -> None:
    with pytest.raises(InvalidInput):
        HttpClient().get("file:///etc/passwd")


def stopncii_route(path: str, query: dict[str, str]) -> tuple[int, bytes]:
    token = query.get("nextPageToken")
    page = int(token) if token else 0
    if int(query["startTimestamp"]) >= 2002:
        return 200, json.dumps(
            {"count": 0, "hashRecords": [], "nextSetTimestamp": 2002, "hasMoreRecords": False}
        ).encode()
    records = [
        {
            "lastModtimestamp": 1000 + page * 10 + n,
            "signalType": "VideoMD5",
            "hashValue": MD5S[page * 5 + n],
            "hashStatus": "Active",
        }
        for n in range(5)
    ]
    if page == 2:
        records[0] = {**records[0], "hashValue": MD5S[0], "hashStatus": "Withdrawn"}
    body = {
        "count": 5,
        "hashRecords": records,
        "nextSetTimestamp": 2000 + page,
        "hasMoreRecords": page < 2,
        "nextPageToken": str(page + 1) if page < 2 else None,
    }
    return 200, json.dumps(body).encode()


def test_stopncii_fetch_pages_withdraws_and_resumes(registry: SignalRegistry) -> None:
    server = PartnerServer(stopncii_route, fail={"/fetch?token=2": "drop"})
    client = HttpClient(retries=0, backoff=0.0, timeout=5.0)
    target = MemoryTarget()
    try:
        with pytest.raises(NotReady):
            fetch_into(target, "stopncii", registry, server.url + "/fetch", client)
        assert len(target.entries("b")) == 10
        server.log.clear()
        fetch_into(target, "stopncii", registry, server.url + "/fetch", client)
        assert server.log == ["/fetch?token=2"]
        # Everything read: the next run starts from nextSetTimestamp, with no page token.
        server.log.clear()
        fetch_into(target, "stopncii", registry, server.url + "/fetch", client)
    finally:
        server.close()
    assert server.log == ["/fetch"]
    entries = target.entries("b")
    assert len(entries) == 14
    assert entries[f"VideoMD5:{MD5S[0]}"].status == "withdrawn"
    assert json.loads(target.state["checkpoints"][("b", "fetch:stopncii")]) == {"start": 2002}


def test_threatexchange_fetch_follows_paging_and_keeps_token_out(registry: SignalRegistry) -> None:
    def route(path: str, query: dict[str, str]) -> tuple[int, bytes]:
        after = query.get("after")
        data = [
            {
                "id": f"{after or 'p'}{n}",
                "indicator": MD5S[n + (5 if after else 0)],
                "type": "HASH_MD5",
                "last_updated": 100 + n + (5 if after else 0),
                "should_delete": False,
                "descriptors": {"data": [{"status": "MALICIOUS"}]},
            }
            for n in range(5)
        ]
        paging = {} if after else {"next": "/123/threat_updates?after=c1&access_token=t0k"}
        return 200, json.dumps({"data": data, "paging": paging}).encode()

    server = PartnerServer(route, fail={"/123/threat_updates?after=c1": "500"})
    target = MemoryTarget()
    try:
        with pytest.raises(NotReady):
            fetch_into(
                target,
                "threatexchange",
                registry,
                server.url + "/123/threat_updates",
                HttpClient(retries=0),
            )
        stored = target.state["checkpoints"][("b", "fetch:threatexchange")]
        assert "t0k" not in stored and "after=c1" in stored
        fetch_into(
            target,
            "threatexchange",
            registry,
            server.url + "/123/threat_updates",
            HttpClient(retries=0),
        )
    finally:
        server.close()
    assert len(target.active("b")) == 10
    state = json.loads(target.state["checkpoints"][("b", "fetch:threatexchange")])
    assert state == {"start_time": 109}


# The importer itself


def stream(n: int, fail_at: int | None = None) -> Iterator[object]:
    for i in range(n):
        if i == fail_at:
            raise NotReady("partner went away")
        yield BankUpdate(f"id{i}", (), source="s")
        if i % 5 == 4:
            yield Checkpoint({"i": i})


def test_a_failure_never_leaves_half_a_batch(registry: SignalRegistry) -> None:
    target = MemoryTarget()
    with pytest.raises(NotReady):
        import_updates(
            target,
            "b",
            stream(20, fail_at=13),
            batch_size=100,  # type: ignore[arg-type]
            checkpoint_source="k",
        )
    assert set(target.entries("b")) == {f"id{i}" for i in range(10)}
    assert target.state["checkpoints"][("b", "k")] == '{"i":9}'


def test_strict_stops_at_the_first_problem(registry: SignalRegistry) -> None:
    items = [BankUpdate("a"), Problem("line 2", "bad"), BankUpdate("b")]
    target = MemoryTarget()
    with pytest.raises(InvalidInput, match="line 2: bad"):
        import_updates(target, "b", items, strict=True)
    assert target.entries("b") == {}
    summary = import_updates(target, "b", items)
    assert summary.added == 2 and summary.problem_count == 1
    assert summary.skipped["malformed or unknown"] == 1
