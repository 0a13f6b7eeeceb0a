"""The store's side of sharing: the trigger-kept ``entry_log``, its migration, checkpoints,
origins; and the ``follow`` role and ``[[follow]]`` tables of the server config."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sharing_support import md5

from hashcore.errors import InvalidInput
from hashcore.model import EntryStatus
from hashcore.sharing.checkpoint import format_checkpoint, parse_checkpoint
from hashcore.signals import Signal
from hashcore.store import Store
from hashcore.store.writer import Upsert
from hashcore_server.auth import ADMIN, ALL, FOLLOW, LOOKUP, Principal
from hashcore_server.config import ConfigError, load_config


def log_rows(store: Store) -> list[tuple[str, str]]:
    conn = sqlite3.connect(store.path)
    try:
        return list(conn.execute("SELECT external_id, op FROM entry_log ORDER BY seq"))
    finally:
        conn.close()


def test_every_write_path_appends_to_the_bank_log(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        with store.transaction() as writer:
            writer.create_bank("a")
            x = writer.add_entry("a", [md5("x1"), md5("x2")], external_id="x")
            writer.upsert_entries(
                "a",
                [Upsert("y", [md5("y")]), Upsert("gone", [], status=EntryStatus.DELETED)],
            )
        assert log_rows(store) == [("x", "insert"), ("y", "insert"), ("gone", "insert")]
        y_time = store.find_entry("a", "y").updated_at
        with store.transaction() as writer:  # other hashes, same updated_at: only links change
            writer.upsert_entries("a", [Upsert("y", [md5("y2")], updated_at=y_time)])
            writer.upsert_entries("a", [Upsert("x", [md5("x1"), md5("x2")], labels=["l"])])
            writer.set_entry_status("a", x.id, EntryStatus.WITHDRAWN)
            writer.upsert_entries("a", [Upsert("x", [md5("x1"), md5("x2")], labels=["l"])])
        # one row per entry and transaction: x's three changes are one row, y's link change one
        assert log_rows(store)[3:] == [("y", "signals"), ("x", "update")]
        with store.transaction() as writer:  # nothing changes: nothing is logged
            writer.upsert_entries("a", [Upsert("y", [md5("y2")], updated_at=y_time)])
        assert len(log_rows(store)) == 5
    conn = sqlite3.connect(tmp_path / "hashcore.sqlite3")  # a hand edit is logged too
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("DELETE FROM entries WHERE external_id = 'y'")
    conn.commit()
    conn.close()
    with Store(tmp_path) as store:
        assert log_rows(store)[5:] == [("y", "delete")]  # outside hashcore: logged as well
        end, page = store.log_page("a", 0, 100)
        assert end == store.log_end("a")
        # one item per entry, in the order of its last change, in its state now
        assert [(i.external_id, i.entry is None) for i in page] == [
            ("gone", False),
            ("x", False),
            ("y", True),
        ]
        assert store.log_page("a", page[0].seq, 100)[1][0].external_id == "x"
        x_now = page[1].entry  # withdrawn, then made active again by the last upsert
        assert x_now is not None and (x_now.status, x_now.labels) == (EntryStatus.ACTIVE, ("l",))
        assert store.log_page("a", end, 100) == (end, [])


def test_a_version_5_store_logs_its_entries_once_when_opened(tmp_path: Path) -> None:
    with Store(tmp_path) as store, store.transaction() as writer:
        writer.create_bank("old")
        for name in ("p", "q", "r"):
            writer.add_entry("old", [Signal("md5", md5(name).value)], external_id=name)
    conn = sqlite3.connect(tmp_path / "hashcore.sqlite3")
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
        conn.execute(f"DROP TRIGGER {name}")
    conn.executescript(
        "DROP TABLE entry_log; DROP TABLE entry_origins; DROP TABLE followers;"
        " PRAGMA user_version=5;"
    )
    conn.close()
    with Store(tmp_path) as store:
        assert log_rows(store) == [("p", "seed"), ("q", "seed"), ("r", "seed")]
        with store.transaction() as writer:
            writer.upsert_entries("old", [Upsert("q", [md5("q")], labels=["new"])])
        assert log_rows(store)[3:] == [("q", "update")]
    with Store(tmp_path) as store:  # opening again seeds nothing twice
        assert len(log_rows(store)) == 4


def test_checkpoints_name_their_store_and_position() -> None:
    assert parse_checkpoint("", "s1", 10) == 0
    assert parse_checkpoint(format_checkpoint("s1", 7), "s1", 10) == 7
    for bad in ("7", "s1:", "s1:x", ":3", "s1:-1", "s1:" + "9" * 300):
        with pytest.raises(InvalidInput, match="malformed checkpoint"):
            parse_checkpoint(bad, "s1", 10)
    with pytest.raises(InvalidInput, match="another store"):
        parse_checkpoint("s2:3", "s1", 10)
    with pytest.raises(InvalidInput, match="ahead of the bank's log"):
        parse_checkpoint("s1:11", "s1", 10)


def test_follow_and_lookup_are_separate_roles_and_admin_has_both() -> None:
    follower = Principal("b", {"shared": FOLLOW, "open": LOOKUP, "both": "follow+lookup"})
    assert follower.can("shared", FOLLOW) and not follower.can("shared", LOOKUP)
    assert follower.can("open", LOOKUP) and not follower.can("open", FOLLOW)
    assert follower.can("both", FOLLOW) and follower.can("both", LOOKUP)
    assert not follower.can("both", ADMIN)
    admin = Principal("ops", {ALL: ADMIN})
    assert admin.can("x", FOLLOW) and admin.can("x", LOOKUP)
    star_follow = Principal("mirror", {ALL: FOLLOW})
    assert not star_follow.sees_all  # a follow grant on every bank searches none
    assert star_follow.lookup_scope([], ["a", "b"]) == []


def test_config_reads_follow_roles_and_follow_tables(tmp_path: Path) -> None:
    (tmp_path / "b.token").write_text("secret\n")
    (tmp_path / "hashcore.toml").write_text(
        """
[[tokens]]
name = "hotline-b"
token = "t"
grants = { shared = "follow", both = ["lookup", "follow"] }

[[follow]]
local_bank = "from-a"
from = "a.example.org:50051"
remote_bank = "shared"
token_file = "b.token"
name = "hotline-a"
"""
    )
    config = load_config(tmp_path / "hashcore.toml", env={})
    assert dict(config.tokens[0].grants) == {"shared": "follow", "both": "follow+lookup"}
    (table,) = config.follow
    assert (table.local_bank, table.address, table.remote_bank, table.name) == (
        "from-a",
        "a.example.org:50051",
        "shared",
        "hotline-a",
    )
    assert table.token_file == tmp_path / "b.token"


GOOD = {"local_bank": "x", "from": "h:1", "remote_bank": "r", "token_file": "t"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"token_file": None}, "needs token_file"),
        ({"from": "h"}, "host:port"),
        ({"local_bank": "bad name"}, "local_bank"),
        ({"token_file": "none"}, "does not exist"),
        ({"speed": "1"}, "unknown keys speed"),
        ({"remote_bank": ""}, "remote_bank must be a non-empty string"),
    ],
)
def test_bad_follow_tables_stop_the_server_with_a_clear_error(
    tmp_path: Path, change: dict[str, str | None], message: str
) -> None:
    table = {key: value for key, value in {**GOOD, **change}.items() if value is not None}
    (tmp_path / "t").write_text("secret")
    lines = "".join(f'{key} = "{value}"\n' for key, value in table.items())
    (tmp_path / "hashcore.toml").write_text(f"[[follow]]\n{lines}")
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "hashcore.toml", env={})


def test_an_unknown_role_is_refused(tmp_path: Path) -> None:
    (tmp_path / "hashcore.toml").write_text(
        '[[tokens]]\nname = "n"\ntoken = "t"\ngrants = { b = "lookup+copy" }\n'
    )
    with pytest.raises(ConfigError, match="role of 'b'"):
        load_config(tmp_path / "hashcore.toml", env={})
