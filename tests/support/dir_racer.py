"""Ship ``count`` different archives, all of one name, into a folder as soon as ``go`` appears.

``python -m support.dir_racer SOURCE ROOT GO COUNT``: two of these at once race
for the same names; each prints where its archives landed, one a line.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path

from pipeline_collector.records import Archive, Batch
from pipeline_collector.transports import DirectoryTransport

NAME = "analytics-2026-11-27-000000+0000-0.tar.gz"
UNTIL = datetime(2026, 11, 27, tzinfo=timezone.utc)
SHIPPED_AT = datetime(2026, 11, 28, 23, 30, tzinfo=timezone.utc)


def archive(folder: Path, body: bytes) -> Archive:
    """A real small tar.gz named ``NAME`` in ``folder``, described as the packer would."""
    folder.mkdir(parents=True)
    path = folder / NAME
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("./jobs.csv")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    blob = path.read_bytes()
    return Archive(
        path=path,
        size=len(blob),
        sha256=hashlib.sha256(blob).hexdigest(),
        members=("./jobs.csv",),
        batch=Batch(group="default", number=0),
        until=UNTIL,
    )


def main() -> None:
    source, root, go, count = sys.argv[1:5]
    made = [
        archive(Path(source) / str(n), f"id\n{os.getpid()}-{n}\n".encode())
        for n in range(int(count))
    ]
    (Path(source) / "ready").touch()
    while not Path(go).exists():
        time.sleep(0.001)
    transport = DirectoryTransport(root, clock=lambda: SHIPPED_AT)
    for a in made:
        print(transport.send(a).location)


if __name__ == "__main__":
    main()
