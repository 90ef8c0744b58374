"""The registry's SQLite file: page size of new and existing databases, and
how much each connection caches."""

from __future__ import annotations

import sqlite3

from stowage_server.database import PAGE_SIZE, READ_CACHE_KIB, WRITE_CACHE_KIB, Database


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


def test_pool_connections_cache_little_but_while_they_write(tmp_path):
    db = Database(str(tmp_path / "registry.db"))
    try:

        def cache(conn: sqlite3.Connection) -> int:
            return conn.execute("PRAGMA cache_size").fetchone()[0]

        with db.read() as conn:
            assert cache(conn) == -READ_CACHE_KIB
        with db.write() as conn:
            assert cache(conn) == -WRITE_CACHE_KIB
        with db.write(durable=False) as conn:
            assert cache(conn) == -WRITE_CACHE_KIB
        with db.read() as conn:
            assert cache(conn) == -READ_CACHE_KIB  # given back after the write
        held = db.held_read()
        try:
            assert cache(held.conn) == -READ_CACHE_KIB  # a backup's snapshot reads pages once
        finally:
            held.close()
    finally:
        db.close()
