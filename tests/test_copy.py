"""COPY helpers against a real PostgreSQL server: rows come out whole and exact."""

from __future__ import annotations

import csv
import io
import tarfile
import threading
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import psycopg2
import pytest

from pipeline_collector import gather
from pipeline_collector.compat import CsvFileSplitter, register
from pipeline_collector.copy import copy_rows, copy_rows_psycopg2
from pipeline_collector.errors import ConfigurationError
from pipeline_collector.records import Part
from pipeline_collector.stages.chunk import cut, read_part
from pipeline_collector.stages.rows import Rows, record_blocks

TRICKY = [
    (1, "plain", "1.5", None),
    (2, "comma, inside", None, ""),
    (3, 'quote " inside', "3", "x"),
    (4, "new\nline", "4", "two\r\nlines"),
    (5, "ünïcødé ✓ 日本", "5", "😀"),
    (6, "long " * 200, "6", "big"),
    (7, '"', "7", ","),
    (8, "\n", None, '""'),
    (9, "back\\slash", "9", "tab\there"),
]


@pytest.fixture(scope="module")
def table(postgres_dsn: str) -> Iterator[str]:
    """A table of awkward rows (quotes, commas, newlines, non-ASCII, NULLs), 300 rows in all."""
    name = f"copy_tricky_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, txt text, num numeric, note text)")
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {name} VALUES (%s, %s, %s, %s)", TRICKY)
            cur.execute(
                f"INSERT INTO {name} SELECT g, 'row ' || g || E'\\n\"q\", ' || repeat('é', g % 7),"
                f" g, NULL FROM generate_series(100, 390) g"
            )
    yield name
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {name}")


def copy_sql(table: str) -> str:
    return f"COPY (SELECT * FROM {table} ORDER BY id) TO STDOUT WITH CSV HEADER"


@pytest.fixture
def conn(postgres_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(postgres_dsn, autocommit=True) as c:
        yield c


@pytest.fixture
def conn2(postgres_dsn: str) -> Iterator[Any]:
    c = psycopg2.connect(postgres_dsn)
    c.autocommit = True
    try:
        yield c
    finally:
        c.close()


def reference(postgres_dsn: str, table: str) -> bytes:
    """The whole COPY output, read into one buffer separately from the code under test."""
    buf = io.BytesIO()
    with psycopg.connect(postgres_dsn) as c, c.cursor() as cur, cur.copy(copy_sql(table)) as copy:
        while data := copy.read():
            buf.write(data)
    return buf.getvalue()


def table_rows(postgres_dsn: str, table: str) -> list[list[str]]:
    """The table's rows as CSV text would show them (NULL as empty)."""
    with psycopg.connect(postgres_dsn) as c:
        rows = c.execute(f"SELECT id::text, txt, num::text, note FROM {table} t ORDER BY t.id")
        return [["" if v is None else v for v in row] for row in rows]


def parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def check_parts_rebuild_table(parts: list[Part], ref: bytes, limit: int) -> None:
    header = ref[: ref.index(b"\n") + 1]
    bodies = []
    for part in parts:
        data = read_part(part)
        assert data.startswith(header)
        assert part.raw_size <= limit or part.rows == 1
        bodies.append(data[len(header) :])
    assert len(parts) > 3
    assert b"".join(bodies) == ref[len(header) :]


class TestReference:
    def test_reference_copy_matches_the_table(self, postgres_dsn: str, table: str) -> None:
        """The separate COPY used as reference parses back to the table's rows."""
        ref = parse(reference(postgres_dsn, table))
        assert ref[0] == ["id", "txt", "num", "note"]
        assert ref[1:] == table_rows(postgres_dsn, table)


class TestQuotedNewlines:
    @pytest.mark.parametrize("piece", [1, 7, 64, 1000])
    def test_server_data_cut_anywhere_is_counted_by_records(
        self, postgres_dsn: str, table: str, piece: int
    ) -> None:
        """The COPY's bytes, cut into pieces at any byte, rejoin into blocks of whole rows:
        newlines inside quoted fields (and doubled quotes) end no row."""
        ref = reference(postgres_dsn, table)
        assert ref.count(b"\n") > len(table_rows(postgres_dsn, table)) + 1  # newlines inside
        pieces = [ref[i : i + piece] for i in range(0, len(ref), piece)]
        blocks = list(record_blocks(pieces, size=300))
        assert b"".join(blocks) == ref
        assert sum(b.rows for b in blocks) == len(table_rows(postgres_dsn, table)) + 1
        for b in blocks:
            assert len(parse(b)) == b.rows

    @pytest.mark.parametrize("block", [1, 100, 5000])
    def test_parts_from_small_blocks_rebuild_the_table(
        self,
        conn: psycopg.Connection[Any],
        postgres_dsn: str,
        table: str,
        tmp_path: Path,
        block: int,
    ) -> None:
        """Blocks of any size, split where a part ends, rebuild the table row for row."""
        limit = 2000
        parts = list(
            cut(
                copy_rows(conn.cursor(), copy_sql(table), block=block),
                key="tricky",
                directory=tmp_path,
                limit=limit,
            )
        )
        check_parts_rebuild_table(parts, reference(postgres_dsn, table), limit)
        assert sum(p.rows for p in parts) == len(table_rows(postgres_dsn, table))
        for part in parts:
            assert len(parse(read_part(part))) == part.rows + 1


class TestEncoding:
    def test_blocks_from_a_utf8_connection_are_vouched_for(
        self, conn: psycopg.Connection[Any], conn2: Any, table: str
    ) -> None:
        """A UTF-8 client encoding marks the blocks as UTF-8 (the server validated them)."""
        assert all(b.utf8 for b in copy_rows(conn.cursor(), copy_sql(table), block=1000))
        blocks = list(copy_rows_psycopg2(conn2.cursor(), copy_sql(table), block=1000))
        assert blocks and all(b.utf8 for b in blocks)

    def test_blocks_in_another_encoding_are_checked(
        self, conn: psycopg.Connection[Any], conn2: Any
    ) -> None:
        """In another client encoding the blocks are not vouched for, so they are checked."""
        sql = "COPY (SELECT g FROM generate_series(1, 10) g) TO STDOUT"
        conn.execute("SET client_encoding TO 'LATIN1'")
        assert not any(b.utf8 for b in copy_rows(conn.cursor(), sql))
        conn2.set_client_encoding("LATIN1")
        assert not any(b.utf8 for b in copy_rows_psycopg2(conn2.cursor(), sql))
        assert Rows(b"1\n", 1).utf8 is False


class TestPsycopg3:
    def test_items_are_blocks_of_whole_rows(
        self, conn: psycopg.Connection[Any], postgres_dsn: str, table: str
    ) -> None:
        """copy_rows yields blocks of whole records, each counted, that join to the COPY."""
        items = list(copy_rows(conn.cursor(), copy_sql(table), block=1000))
        assert len(items) > 10 and all(type(i) is Rows for i in items)
        assert b"".join(items) == reference(postgres_dsn, table)
        for item in items:
            assert len(parse(item)) == item.rows
        assert sum(i.rows for i in items) == len(table_rows(postgres_dsn, table)) + 1
        assert [r for i in items for r in parse(i)][1:] == table_rows(postgres_dsn, table)

    def test_params_are_passed(self, conn: psycopg.Connection[Any], table: str) -> None:
        """Query parameters go to the server with the COPY statement."""
        sql = f"COPY (SELECT id FROM {table} WHERE id < %s ORDER BY id) TO STDOUT WITH CSV HEADER"
        assert b"".join(copy_rows(conn.cursor(), sql, (3,))) == b"id\n1\n2\n"

    def test_parts_put_back_together_are_the_table(
        self, conn: psycopg.Connection[Any], postgres_dsn: str, table: str, tmp_path: Path
    ) -> None:
        """Rows streamed through the chunk stage come back byte for byte, header on every part."""
        limit = 2000
        parts = list(
            cut(
                copy_rows(conn.cursor(), copy_sql(table)),
                key="tricky",
                directory=tmp_path,
                limit=limit,
            )
        )
        check_parts_rebuild_table(parts, reference(postgres_dsn, table), limit)

    def test_server_error_is_raised(self, conn: psycopg.Connection[Any]) -> None:
        """An error in the COPY surfaces to the consumer."""
        with pytest.raises(psycopg.errors.DivisionByZero):
            list(copy_rows(conn.cursor(), "COPY (SELECT 1/0) TO STDOUT"))

    def test_stopping_early_leaves_the_connection_usable(
        self, conn: psycopg.Connection[Any]
    ) -> None:
        """Closing the iterator early cancels the COPY; the connection keeps working."""
        rows = copy_rows(
            conn.cursor(), "COPY (SELECT g FROM generate_series(1, 2000000) g) TO STDOUT"
        )
        assert next(rows).startswith(b"1\n2\n")
        assert isinstance(rows, Generator)  # closable, as the docstring promises
        rows.close()
        assert conn.execute("SELECT 42").fetchone() == (42,)


class TestPsycopg2:
    def test_items_are_blocks_of_whole_rows(
        self, conn2: Any, postgres_dsn: str, table: str
    ) -> None:
        """copy_rows_psycopg2 yields blocks of whole records, each counted, that join to the COPY."""
        items = list(copy_rows_psycopg2(conn2.cursor(), copy_sql(table), block=1000))
        assert len(items) > 10 and all(type(i) is Rows for i in items)
        assert b"".join(items) == reference(postgres_dsn, table)
        for item in items:
            assert len(parse(item)) == item.rows
        assert [r for i in items for r in parse(i)][1:] == table_rows(postgres_dsn, table)

    def test_parts_put_back_together_are_the_table(
        self, conn2: Any, postgres_dsn: str, table: str, tmp_path: Path
    ) -> None:
        """Rows pushed by copy_expert and cut by the chunk stage come back byte for byte."""
        limit = 2000
        rows = copy_rows_psycopg2(conn2.cursor(), copy_sql(table), max_pending=4)
        parts = list(cut(rows, key="tricky", directory=tmp_path, limit=limit))
        check_parts_rebuild_table(parts, reference(postgres_dsn, table), limit)

    def test_server_error_is_raised_and_thread_joined(self, conn2: Any) -> None:
        """An error in copy_expert is raised in the consumer and the worker thread is gone."""
        with pytest.raises(psycopg2.errors.DivisionByZero):
            list(copy_rows_psycopg2(conn2.cursor(), "COPY (SELECT 1/0) TO STDOUT"))
        assert not [t for t in threading.enumerate() if t.name == "copy_rows_psycopg2"]

    def test_max_pending_must_be_positive(self, conn2: Any) -> None:
        """A queue of zero rows would be unbounded: refused before any COPY starts."""
        with pytest.raises(ConfigurationError, match="max_pending"):
            copy_rows_psycopg2(conn2.cursor(), "COPY (SELECT 1) TO STDOUT", max_pending=0)

    def test_producer_stays_within_max_pending(self, conn2: Any) -> None:
        """The COPY never runs more than max_pending chunks (plus those in hand) ahead of the consumer."""
        written = 0
        real = conn2.cursor()

        class CountingCursor:
            connection = conn2

            def copy_expert(self, sql: str, file: Any) -> None:
                class Counting:
                    def write(self, data: bytes) -> int:
                        nonlocal written
                        written += len(data)
                        return int(file.write(data))

                real.copy_expert(sql, Counting())

        block = 4096
        rows = copy_rows_psycopg2(
            CountingCursor(),
            "COPY (SELECT g FROM generate_series(1, 500000) g) TO STDOUT",
            max_pending=8,
            block=block,
        )
        consumed = 0
        for n, item in enumerate(rows, 1):
            consumed += len(item)
            # 8 queued, one being joined in the thread, one carried by the consumer.
            assert written <= consumed + (8 + 3) * (block + 16)
            if n == 50:
                break
        assert isinstance(rows, Generator)  # closable, as the docstring promises
        rows.close()
        assert not [t for t in threading.enumerate() if t.name == "copy_rows_psycopg2"]

    def test_stopping_early_cancels_and_leaves_the_connection_usable(self, conn2: Any) -> None:
        """Closing the iterator cancels the COPY on the server, joins the thread, and the
        connection runs the next statement."""
        rows = copy_rows_psycopg2(
            conn2.cursor(), "COPY (SELECT g FROM generate_series(1, 20000000) g) TO STDOUT"
        )
        assert next(rows).startswith(b"1\n2\n")
        assert next(rows).endswith(b"\n")
        assert isinstance(rows, Generator)  # closable, as the docstring promises
        rows.close()
        assert not [t for t in threading.enumerate() if t.name == "copy_rows_psycopg2"]
        cur = conn2.cursor()
        cur.execute("SELECT 42")
        assert cur.fetchone() == (42,)

    def test_copy_expert_into_the_splitter(
        self, conn2: Any, postgres_dsn: str, table: str, tmp_path: Path
    ) -> None:
        """copy_expert(sql, CsvFileSplitter) as old collectors do: files within the limit,
        header on each, rows exactly the table's."""
        limit = 2500
        splitter = CsvFileSplitter(filespec=str(tmp_path / "tricky_table.csv"), max_file_size=limit)
        conn2.cursor().copy_expert(copy_sql(table), splitter)
        files = splitter.file_list()
        ref = reference(postgres_dsn, table)
        header = ref[: ref.index(b"\n") + 1]
        bodies = []
        for name in files:
            data = Path(name).read_bytes()
            assert data.startswith(header)
            assert len(data) <= limit or len(parse(data)) == 2
            bodies.append(data[len(header) :])
        assert len(files) > 3
        assert b"".join(bodies) == ref[len(header) :]
        assert {p.name for p in tmp_path.iterdir()} == {Path(f).name for f in files}


@register("config", "1.0", config=True)
def _config(**kwargs: Any) -> dict[str, str]:
    return {"version": "1.0"}


class TestInGather:
    @pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
    def test_collector_yielding_copy_rows(
        self,
        driver: str,
        conn: psycopg.Connection[Any],
        conn2: Any,
        postgres_dsn: str,
        table: str,
        tmp_path: Path,
    ) -> None:
        """A CSV collector that yields from a COPY lands in the archives row-exact, cut
        into size-limited members with the header on each."""
        limit = 3000

        @register("tricky", "1.0", format="csv")
        def tricky(**kwargs: Any) -> Iterator[bytes]:
            if driver == "psycopg":
                yield from copy_rows(conn.cursor(), copy_sql(table))
            else:
                yield from copy_rows_psycopg2(conn2.cursor(), copy_sql(table))

        run = gather([_config, tricky], mode="dry-run", workdir=tmp_path, max_data_size=limit)
        assert run.status == "ok", run.reason
        ref = reference(postgres_dsn, table)
        header = ref[: ref.index(b"\n") + 1]
        bodies = []
        assert len(run.archives) > 3
        for archive in sorted(
            run.archives, key=lambda a: int(a.name.rsplit("-", 1)[1].split(".")[0])
        ):
            with tarfile.open(archive.path, "r:gz") as tar:
                f = tar.extractfile("./tricky.csv")
                assert f is not None
                data = f.read()
            assert data.startswith(header)
            assert len(data) <= limit
            bodies.append(data[len(header) :])
        assert b"".join(bodies) == ref[len(header) :]
