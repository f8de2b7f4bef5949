"""Reading archives member by member in tests."""

from __future__ import annotations

import tarfile


def read_member(tar: tarfile.TarFile, member: str | tarfile.TarInfo) -> bytes:
    """The bytes of a regular member (``extractfile`` gives None for anything else)."""
    f = tar.extractfile(member)
    assert f is not None, member
    return f.read()
