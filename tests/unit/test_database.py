"""The registry's SQLite file: page size of new and existing databases."""

from __future__ import annotations

import sqlite3

from stowage_server.database import PAGE_SIZE, Database


def _page_size(path: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()


def test_a_new_database_uses_large_pages(tmp_path):
    path = str(tmp_path / "registry.db")
    db = Database(path)
    with db.write() as conn:
        conn.execute(
            "INSERT INTO content_bytes (sha256, data) VALUES (?, ?)", (b"\x01" * 32, b"x" * 8000)
        )
    db.close()
    assert _page_size(path) == PAGE_SIZE == 16384


def test_an_existing_database_keeps_its_page_size_and_its_rows(tmp_path):
    path = str(tmp_path / "registry.db")
    old = sqlite3.connect(path)
    old.execute("PRAGMA page_size=4096")
    old.execute("PRAGMA journal_mode=WAL")
    old.execute("CREATE TABLE content_bytes (sha256 BLOB PRIMARY KEY, data BLOB NOT NULL)")
    old.execute("INSERT INTO content_bytes VALUES (?, ?)", (b"\x02" * 32, b"kept"))
    old.commit()
    old.close()

    db = Database(path)
    with db.read() as conn:
        assert conn.execute("SELECT data FROM content_bytes").fetchall() == [(b"kept",)]
    db.close()
    assert _page_size(path) == 4096
