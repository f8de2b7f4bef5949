"""Check an archive against the contract: members, manifest, status CSV, sizes.

``check_archive`` is what ``pipeline-collector inspect`` runs; services and
tests can call it on archives they built or received.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from ..config import MAX_UPLOAD_SIZE
from ..stages.discover import KEY, VERSION
from ..units import human_bytes

__all__ = [
    "REQUIRED_MEMBERS",
    "STATUS_HEADER",
    "ArchiveReport",
    "Member",
    "check_archive",
    "inspect_archive",
]

STATUS_HEADER = (
    "collection_start_timestamp",
    "since",
    "until",
    "file_name",
    "status",
    "elapsed",
)
REQUIRED_MEMBERS = ("./config.json", "./manifest.json", "./data_collection_status.csv")
_MEMBER = re.compile(r"^\./(?P<key>[^/]+)\.(?P<ext>json|csv)\Z")


@attrs.frozen(kw_only=True)
class Member:
    """One member of an archive as found in the tar file."""

    name: str
    size: int
    kind: str = "file"


@attrs.frozen(kw_only=True)
class ArchiveReport:
    """What ``inspect_archive`` found: the file, its members, and problems."""

    path: Path
    size: int | None
    sha256: str | None
    members: tuple[Member, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def _kind(info: tarfile.TarInfo) -> str:
    if info.isfile():
        return "file"
    if info.isdir():
        return "directory"
    if info.issym() or info.islnk():
        return "link"
    return "special file"


def inspect_archive(
    path: str | os.PathLike[str],
    *,
    max_upload_size: int = MAX_UPLOAD_SIZE,
    max_data_size: int | None = None,
) -> ArchiveReport:
    """Read an archive member by member and check it against the contract."""
    where = Path(path)
    problems: list[str] = []
    try:
        size = where.stat().st_size
        digest = hashlib.sha256()
        with where.open("rb") as raw:
            while chunk := raw.read(1 << 20):
                digest.update(chunk)
    except OSError as e:
        return ArchiveReport(
            path=where, size=None, sha256=None, problems=(f"cannot read: {e.strerror}",)
        )
    sha = digest.hexdigest()
    if size > max_upload_size:
        problems.append(
            f"compressed size {size:,} bytes is over the upload limit of"
            f" {max_upload_size:,} bytes ({human_bytes(max_upload_size)})"
        )
    try:
        with gzip.open(where, "rb") as g:
            while g.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error) as e:
        problems.append(f"not a whole gzip stream: {e}")
    members: list[Member] = []
    contents: dict[str, bytes] = {}
    try:
        with tarfile.open(where, "r:gz") as tar:
            for info in tar:
                members.append(Member(name=info.name, size=info.size, kind=_kind(info)))
                wanted = info.name.endswith(".json") or info.name == REQUIRED_MEMBERS[2]
                if info.isfile() and wanted and info.name not in contents:
                    f = tar.extractfile(info)
                    contents[info.name] = f.read() if f is not None else b""
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        problems.append(f"not a readable tar.gz archive: {e}")
        return ArchiveReport(
            path=where, size=size, sha256=sha, members=tuple(members), problems=tuple(problems)
        )
    problems += _member_problems(members, contents, max_data_size)
    return ArchiveReport(
        path=where, size=size, sha256=sha, members=tuple(members), problems=tuple(problems)
    )


def check_archive(
    path: str | os.PathLike[str],
    *,
    max_upload_size: int = MAX_UPLOAD_SIZE,
    max_data_size: int | None = None,
) -> list[str]:
    """Check one ``.tar.gz`` against the contract; return its problems (none: it passes).

    Required members ``./config.json``, ``./manifest.json`` and
    ``./data_collection_status.csv``; the manifest lists exactly the other
    members with ``MAJOR.MINOR`` versions; the status CSV has the contract's
    header and rows that name members or failed collections; member names
    are ``./<key>.json`` or ``./<key>.csv``, each once; JSON members parse;
    the file is within ``max_upload_size`` and each data CSV within
    ``max_data_size`` when given.
    """
    return list(
        inspect_archive(path, max_upload_size=max_upload_size, max_data_size=max_data_size).problems
    )


def _member_problems(
    members: Sequence[Member], contents: Mapping[str, bytes], max_data_size: int | None
) -> list[str]:
    problems: list[str] = []
    names = [m.name for m in members]
    for name, n in sorted(Counter(names).items()):
        if n > 1:
            problems.append(f"member {name} appears {n} times")
    for m in members:
        match = _MEMBER.match(m.name)
        if match is None or not KEY.match(match["key"]):
            problems.append(
                f"member name {m.name!r} is not ./<key>.json or ./<key>.csv with a key of"
                " lower-case letters, digits and '_' starting with a letter"
            )
        if m.kind != "file":
            problems.append(f"member {m.name} is a {m.kind}, not a regular file")
        if (
            max_data_size is not None
            and m.name.endswith(".csv")
            and m.name != REQUIRED_MEMBERS[2]
            and m.size > max_data_size
        ):
            problems.append(
                f"member {m.name} holds {m.size:,} bytes, over --max-data-size {max_data_size:,}"
            )
    present = set(names)
    for required in REQUIRED_MEMBERS:
        if required not in present:
            problems.append(f"required member {required} is missing")
    parsed: dict[str, Any] = {}
    for name, data in contents.items():
        if not name.endswith(".json"):
            continue
        try:
            parsed[name] = json.loads(data, parse_constant=_no_constant)
        except ValueError as e:
            problems.append(f"member {name} is not valid JSON: {e}")
        except RecursionError:  # a document nested thousands deep: checked no further
            problems.append(f"member {name} nests too deep to be read")
    if "./manifest.json" in parsed:
        problems += _manifest_problems(parsed["./manifest.json"], present)
    status = contents.get(REQUIRED_MEMBERS[2])
    if status is not None:
        problems += _status_problems(status, present)
    return problems


def _no_constant(name: str) -> Any:
    """Refuse ``NaN``, ``Infinity`` and ``-Infinity``: Python reads them, JSON has none."""
    raise ValueError(f"{name} is not JSON")


def _manifest_problems(manifest: Any, present: set[str]) -> list[str]:
    if not isinstance(manifest, dict):
        return ["manifest.json is not a JSON object of member name -> version"]
    problems: list[str] = []
    for name, version in manifest.items():
        if not isinstance(version, str) or not VERSION.match(version):
            problems.append(f"manifest.json gives {name} version {version!r}, not 'MAJOR.MINOR'")
    listed = set(manifest)
    expected = {n[2:] for n in present if n.startswith("./") and n != "./manifest.json"}
    missing = sorted(expected - listed)
    extra = sorted(listed - expected)
    if missing:
        problems.append(f"manifest.json does not list {', '.join(missing)}")
    if extra:
        problems.append(f"manifest.json lists {', '.join(extra)}, not in the archive")
    return problems


def _status_problems(data: bytes, present: set[str]) -> list[str]:
    name = "data_collection_status.csv"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [f"{name} is not UTF-8"]
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return [f"{name} is empty; expected the header {','.join(STATUS_HEADER)}"]
    problems: list[str] = []
    if tuple(rows[0]) != STATUS_HEADER:
        problems.append(
            f"{name} header is {','.join(rows[0])!r}; expected {','.join(STATUS_HEADER)!r}"
        )
        return problems
    reported: set[str] = set()
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(STATUS_HEADER):
            problems.append(f"{name} line {line}: {len(row)} fields, expected {len(STATUS_HEADER)}")
            continue
        started, since, until, file_name, status, elapsed = row
        for label, value in (
            ("collection_start_timestamp", started),
            ("since", since),
            ("until", until),
        ):
            try:
                when = datetime.fromisoformat(value)
            except ValueError:
                problems.append(f"{name} line {line}: {label} {value!r} is not a datetime")
                continue
            if when.tzinfo is None:
                problems.append(f"{name} line {line}: {label} {value!r} has no timezone")
        if status not in ("ok", "failed"):
            problems.append(f"{name} line {line}: status {status!r} is not ok or failed")
        if not elapsed.isdigit():
            problems.append(f"{name} line {line}: elapsed {elapsed!r} is not whole seconds")
        member = f"./{file_name}"
        reported.add(member)
        if _MEMBER.match(member) is None:
            problems.append(f"{name} line {line}: file_name {file_name!r} is not <key>.json/csv")
        elif member not in present and status != "failed":
            problems.append(
                f"{name} line {line}: {file_name} is reported {status} but is not in the archive"
            )
    data_members = sorted(present - set(REQUIRED_MEMBERS))
    for member in data_members:
        if member not in reported:
            problems.append(f"{member[2:]} has no row in {name}")
    return problems
