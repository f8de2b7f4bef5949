"""A deterministic table of job events, as ``COPY ... TO STDOUT WITH CSV HEADER`` sends it.

Rows look like a PostgreSQL dump of an automation controller's event table:
ids, timestamps, UUIDs, host names, event names, a JSON text column of about
200 bytes (its quotes doubled, as CSV wants), and now and then a quoted
``stdout`` field holding commas and newlines.  A fixed seed makes every run
produce the same bytes.

Speed matters more than variety here: the benchmark subtracts the producer's
own time, and a slow producer would hide the pipeline behind it.  So a pool of
distinct row bodies is made once (several MiB, far wider than deflate's 32 KiB
window, so compression sees no artificial repeats) and rows are that pool in
turn, each with its own increasing id, as a fresh object like a database
driver hands out.

>>> data = b"".join(rows(1 << 16))
>>> data.startswith(HEADER) and len(data) >= 1 << 16
True
>>> data == "".join(text_rows(1 << 16)).encode()
True

A second workload, ``wide``, has a different row mix: fewer columns, wide
free-text fields (task names, messages, ``stdout``) with plenty of non-ASCII
(accents, CJK, emoji), and rows about three times as long.  Its rows are built
one at a time (formatted and encoded per row), as a database driver does, so
its producer costs what a real one costs.

>>> wide = b"".join(rows(1 << 16, kind="wide"))
>>> wide.startswith(WIDE_HEADER) and not wide.isascii()
True
>>> wide == "".join(text_rows(1 << 16, kind="wide")).encode()
True

A third, ``cursor``, is a pure-Python producer as a Django cursor loop is:
the job-event columns of ``jobs`` come as a row tuple of Python values and
each row is formatted into one CSV ``str`` (timestamps, counters and ids
computed per row) and handed over one at a time.  It costs about 3 us a
row, so a run's own work has to hide beside it on the other core.

>>> cursor = "".join(text_rows(1 << 16, kind="cursor"))
>>> cursor.startswith(HEADER.decode()) and len(cursor.splitlines()) > 100
True
>>> b"".join(rows(1 << 16, kind="cursor")) == cursor.encode()
True
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any

__all__ = [
    "HEADER",
    "KINDS",
    "SEED",
    "WIDE_HEADER",
    "block",
    "header",
    "pool",
    "rows",
    "text_rows",
    "warm",
]

SEED = 20261127
POOL_ROWS = 8192
FIRST_ID = 48_000_000

COLUMNS = (
    "id",
    "created",
    "modified",
    "uuid",
    "parent_uuid",
    "job_id",
    "host_id",
    "host_name",
    "event",
    "counter",
    "failed",
    "changed",
    "playbook",
    "play",
    "task",
    "role",
    "event_data",
    "stdout",
)
HEADER = (",".join(COLUMNS) + "\n").encode()

_EVENTS = (
    ("runner_on_ok", 40),
    ("runner_on_start", 30),
    ("runner_on_changed", 8),
    ("playbook_on_task_start", 10),
    ("runner_on_skipped", 6),
    ("runner_on_failed", 2),
    ("runner_on_unreachable", 1),
    ("playbook_on_play_start", 1),
    ("playbook_on_stats", 1),
    ("verbose", 1),
)
_TASKS = (
    "Gathering Facts",
    "Install packages",
    "Ensure service is running",
    "Template configuration file",
    "Create application user",
    "Copy TLS certificates",
    "Open firewall ports",
    "Restart web server",
    "Check disk space",
    "Wait for port 443",
    "Update package cache",
    "Set kernel parameters",
)
_ROLES = ("", "", "common", "nginx", "postgresql", "firewalld", "users", "tls")
_PLAYBOOKS = ("site.yml", "deploy.yml", "patch.yml", "backup.yml", "ping.yml")
_MODULES = (
    "ansible.builtin.dnf",
    "ansible.builtin.service",
    "ansible.builtin.template",
    "ansible.builtin.user",
    "ansible.builtin.copy",
    "ansible.posix.firewalld",
)


def _uuid(rnd: random.Random) -> str:
    h = f"{rnd.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _quote(text: str) -> str:
    """CSV-quote a field the way PostgreSQL does: only when it needs it."""
    if any(c in text for c in ',"\n\r') or text == "":
        return '"' + text.replace('"', '""') + '"'
    return text


def _body(rnd: random.Random, n: int, start: datetime) -> str:
    """Everything after the id column of one row, newline included."""
    created = start + timedelta(milliseconds=n * 37 + rnd.randrange(30))
    modified = created + timedelta(milliseconds=rnd.randrange(900))
    host_id = rnd.randrange(1, 400)
    host = f"node-{host_id:03d}.{rnd.choice(('prod', 'stage', 'dev'))}.example.com"
    event = rnd.choices([e for e, _ in _EVENTS], [w for _, w in _EVENTS])[0]
    task = rnd.choice(_TASKS)
    changed = event == "runner_on_changed"
    failed = event in ("runner_on_failed", "runner_on_unreachable")
    duration = rnd.random() * 4
    data = (
        f'{{"host": "{host}", "task": "{task}", "resolved_action": "{rnd.choice(_MODULES)}",'
        f' "res": {{"changed": {str(changed).lower()}, "rc": {int(failed)},'
        f' "msg": "{"non-zero return code" if failed else "ok"}"}},'
        f' "duration": {duration:.6f}, "task_uuid": "{_uuid(rnd)}"}}'
    )
    if event == "runner_on_failed":
        stdout = f'fatal: [{host}]: FAILED! => {{"changed": false, "rc": 1}}\nmsg: see log, line {rnd.randrange(999)}'
    elif event == "playbook_on_task_start":
        stdout = f"\nTASK [{task}] " + "*" * rnd.randrange(20, 60)
    elif event in ("runner_on_ok", "runner_on_changed"):
        stdout = f"{'changed' if changed else 'ok'}: [{host}]"
    else:
        stdout = ""
    fields = (
        created.strftime("%Y-%m-%d %H:%M:%S.%f+00"),
        modified.strftime("%Y-%m-%d %H:%M:%S.%f+00"),
        _uuid(rnd),
        _uuid(rnd),
        str(9000 + n // 2000),
        str(host_id),
        host,
        event,
        str(n % 500 + 1),
        "t" if failed else "f",
        "t" if changed else "f",
        rnd.choice(_PLAYBOOKS),
        "all",
        task,
        rnd.choice(_ROLES),
        data,
        stdout,
    )
    return ",".join(_quote(f) for f in fields) + "\n"


def pool(seed: int = SEED) -> tuple[bytes, ...]:
    """The distinct row bodies (without the id column), made once per process."""
    return _pool(seed)


@cache
def _pool(seed: int) -> tuple[bytes, ...]:
    rnd = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    return tuple(_body(rnd, n, start).encode() for n in range(POOL_ROWS))


def warm(seed: int = SEED, kind: str = "jobs", text: bool = True) -> None:
    """Make the pools of ``kind`` now, so that timing the rows times only the rows.

    ``text=False``: only what ``rows`` needs (the ``str`` pool of ``jobs`` is
    for ``text_rows``, the old library's), so a case's peak RSS holds no
    pool it does not use.
    """
    if kind == "wide":
        _wide_pool(seed)
    elif kind == "cursor":
        _cursor_pool(seed)
    elif text:
        _text_pool(seed)
    else:
        _pool(seed)


@cache
def _text_pool(seed: int) -> tuple[str, ...]:
    return tuple(b.decode() for b in _pool(seed))


def _job_rows(size: int, seed: int = SEED) -> Iterator[bytes]:
    """The header, then rows until at least ``size`` bytes were yielded."""
    bodies = pool(seed)
    k = len(bodies)
    yield HEADER
    total = len(HEADER)
    i = 0
    while total < size:
        row = b"%d," % (FIRST_ID + i) + bodies[i % k]
        total += len(row)
        i += 1
        yield row


def _job_text_rows(size: int, seed: int = SEED) -> Iterator[str]:
    """The same rows as ``_job_rows``, as ``str``."""
    bodies = _text_pool(seed)
    encoded = pool(seed)
    k = len(bodies)
    yield HEADER.decode()
    total = len(HEADER)
    i = 0
    while total < size:
        row = f"{FIRST_ID + i},{bodies[i % k]}"
        total += len(str(FIRST_ID + i)) + 1 + len(encoded[i % k])
        i += 1
        yield row


# --- the second workload: wide text, more non-ASCII, rows built one by one ---

WIDE_COLUMNS = ("id", "created", "host_name", "event", "task", "message", "stdout")
WIDE_HEADER = (",".join(WIDE_COLUMNS) + "\n").encode()

_WORDS = (
    "déploiement",
    "Größe",
    "überprüfen",
    "configuración",
    "niño",
    "ação",
    "Überwachung",
    "服务器",
    "配置文件",
    "部署完成",
    "データベース",
    "再起動",
    "확인",
    "서버",
    "📦",
    "✅",
    "⚠️",
    "install",
    "package",
    "service",
    "restart",
    "template",
    "firewall",
    "port",
    "user",
    "certificate",
    "timeout",
    "retry",
    "ok",
    "changed",
    "failed",
    "skipping",
    "host",
    "node",
    "Ελληνικά",
    "ошибка",
    "сервер",
    "العربية",
    "עברית",
    "naïve",
    "façade",
    "smørrebrød",
)


def _sentence(rnd: random.Random, low: int, high: int) -> str:
    return " ".join(rnd.choice(_WORDS) for _ in range(rnd.randrange(low, high)))


@cache
def _wide_pool(seed: int) -> tuple[tuple[str, str, str, str, str], ...]:
    """Distinct (host, event, task, message, stdout) fields, CSV-quoted."""
    rnd = random.Random(seed + 1)
    out = []
    for _ in range(POOL_ROWS):
        host = (
            f"nœud-{rnd.randrange(1, 400):03d}.{rnd.choice(('prod', 'stage', 'dev'))}.example.com"
        )
        event = rnd.choices([e for e, _ in _EVENTS], [w for _, w in _EVENTS])[0]
        task = _sentence(rnd, 3, 12)
        message = _sentence(rnd, 20, 90)
        lines = [_sentence(rnd, 4, 16) for _ in range(rnd.randrange(1, 8))]
        stdout = "\n".join(f'{x}, "{rnd.choice(_WORDS)}"' for x in lines)
        out.append((host, event, _quote(task), _quote(message), _quote(stdout)))
    return tuple(out)


def _wide_text_rows(size: int, seed: int = SEED) -> Iterator[str]:
    fields = _wide_pool(seed)
    k = len(fields)
    yield WIDE_HEADER.decode()
    total = len(WIDE_HEADER)
    i = 0
    while total < size:
        host, event, task, message, stdout = fields[i % k]
        ms = i * 37
        row = (
            f"{FIRST_ID + i},2026-11-{1 + ms // 86_400_000 % 28:02d} "
            f"{ms // 3_600_000 % 24:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}."
            f"{ms % 1000:03d}000+00,{host},{event},{task},{message},{stdout}\n"
        )
        total += len(row.encode())
        i += 1
        yield row


def _wide_rows(size: int, seed: int = SEED) -> Iterator[bytes]:
    for row in _wide_text_rows(size, seed):
        yield row.encode()


# --- the third workload: job events formatted per row from Python values ------


@cache
def _cursor_pool(seed: int) -> tuple[tuple[Any, ...], ...]:
    """Distinct rows as a cursor returns them: Python values, the text not yet quoted."""
    rnd = random.Random(seed + 2)
    out = []
    for _ in range(POOL_ROWS):
        host_id = rnd.randrange(1, 400)
        host = f"node-{host_id:03d}.{rnd.choice(('prod', 'stage', 'dev'))}.example.com"
        event = rnd.choices([e for e, _ in _EVENTS], [w for _, w in _EVENTS])[0]
        task = rnd.choice(_TASKS)
        changed = event == "runner_on_changed"
        failed = event in ("runner_on_failed", "runner_on_unreachable")
        data = (
            f'{{"host": "{host}", "task": "{task}", "resolved_action": "{rnd.choice(_MODULES)}",'
            f' "res": {{"changed": {str(changed).lower()}, "rc": {int(failed)}}},'
            f' "duration": {rnd.random() * 4:.6f}, "task_uuid": "{_uuid(rnd)}"}}'
        )
        if event == "runner_on_failed":
            stdout = f"fatal: [{host}]: FAILED! => rc=1\nmsg: see log, line {rnd.randrange(999)}"
        elif event == "playbook_on_task_start":
            stdout = f"\nTASK [{task}] " + "*" * rnd.randrange(20, 60)
        elif event in ("runner_on_ok", "runner_on_changed"):
            stdout = f"{'changed' if changed else 'ok'}: [{host}]"
        else:
            stdout = ""
        out.append(
            (
                _uuid(rnd),
                _uuid(rnd),
                host_id,
                host,
                event,
                failed,
                changed,
                rnd.choice(_PLAYBOOKS),
                task,
                rnd.choice(_ROLES),
                data,
                stdout,
                rnd.randrange(900),
            )
        )
    return tuple(out)


def _csv(text: str) -> str:
    """A text field as PostgreSQL's CSV writes it: quoted when it must be."""
    if not text or "," in text or '"' in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _stamp(ms: int) -> str:
    """A timestamp ``ms`` milliseconds into November 2026, as PostgreSQL's CSV writes it."""
    return (
        f"2026-11-{1 + ms // 86_400_000 % 28:02d} {ms // 3_600_000 % 24:02d}:"
        f"{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}000+00"
    )


def _cursor_text_rows(size: int, seed: int = SEED) -> Iterator[str]:
    """One ``str`` per row, formatted from the row's values as a cursor loop does."""
    pool = _cursor_pool(seed)
    k = len(pool)
    yield HEADER.decode()
    total = len(HEADER)
    i = 0
    while total < size:
        uuid, parent, host_id, host, event, failed, changed, book, task, role, data, out, lag = (
            pool[i % k]
        )
        ms = i * 37
        row = (
            f"{FIRST_ID + i},{_stamp(ms)},{_stamp(ms + lag)},"
            f"{uuid},{parent},{9000 + i // 2000},{host_id},{host},{event},{i % 500 + 1},"
            f"{'t' if failed else 'f'},{'t' if changed else 'f'},{book},all,{_csv(task)},"
            f"{role},{_csv(data)},{_csv(out)}\n"
        )
        total += len(row)  # ASCII: characters are bytes
        i += 1
        yield row


def _cursor_rows(size: int, seed: int = SEED) -> Iterator[bytes]:
    for row in _cursor_text_rows(size, seed):
        yield row.encode()


KINDS = ("jobs", "wide", "cursor")
PER_ROW = {"jobs": 540, "wide": 1070, "cursor": 520}  # bytes a row, about
STR_ROWS = ("cursor",)  # workloads whose collector yields str, one row at a time


def header(kind: str = "jobs") -> bytes:
    """The header line of workload ``kind``."""
    return {"jobs": HEADER, "wide": WIDE_HEADER, "cursor": HEADER}[kind]


def rows(size: int, seed: int = SEED, kind: str = "jobs") -> Iterator[bytes]:
    """The header, then rows of workload ``kind`` until at least ``size`` bytes were yielded."""
    if kind not in KINDS:
        raise ValueError(f"unknown workload {kind!r}; known: {KINDS}")
    return {"wide": _wide_rows, "cursor": _cursor_rows}.get(kind, _job_rows)(size, seed)


def text_rows(size: int, seed: int = SEED, kind: str = "jobs") -> Iterator[str]:
    """The same rows as ``rows``, as ``str`` (what psycopg2 writes into a text file)."""
    if kind not in KINDS:
        raise ValueError(f"unknown workload {kind!r}; known: {KINDS}")
    return {"wide": _wide_text_rows, "cursor": _cursor_text_rows}.get(kind, _job_text_rows)(
        size, seed
    )


def block(size: int, seed: int = SEED, kind: str = "jobs") -> bytes:
    """``rows(size)`` joined: a buffer for compressor benchmarks."""
    return b"".join(rows(size, seed, kind))
