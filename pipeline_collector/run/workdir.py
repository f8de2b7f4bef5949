"""The work folder: checked before a run, a private folder per run, swept of dead runs only.

A run writes its parts (and its collectors' ``full_path`` folders) inside a
folder of its own, ``parts-*``, whose ``.owner`` file the run keeps locked
while it lives.  A sweep removes only the folders whose lock it can take:
those of runs that died.  Runs that share a fixed work folder under locks of
their own (tenants) never remove each other's live files.  With an executor,
the workers must see the folder the driver sees: a probe task checks it
before anything is collected.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from pathlib import Path

from ..errors import ConfigurationError, describe_exception
from ..log import logger

__all__ = ["check_workers", "private_folder", "prepare", "sweep"]

log = logger("pipeline")

OWNER = ".owner"
# A folder with no owner yet may be one being made this instant: only an old one is stale.
UNOWNED_AGE = 600.0
# How long the probe task may take: a worker that cannot start in this time is unusable.
PROBE_SECONDS = 120.0


def prepare(path: Path | None) -> Path:
    """The work folder, made private (0700) and proved writable; a new temporary one for None."""
    if path is None:
        return Path(tempfile.mkdtemp(prefix="pipeline-collector-"))
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe-")  # noqa: SIM115
        probe.close()
    except OSError as e:
        raise ConfigurationError(f"work folder {path} is not writable: {e.strerror}") from None
    return path


@contextlib.contextmanager
def private_folder(folder: Path) -> Iterator[Path]:
    """A ``parts-*`` folder of this run's own, locked while it lives, removed after."""
    parts = Path(tempfile.mkdtemp(prefix="parts-", dir=folder))
    fd = os.open(parts / OWNER, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield parts
    finally:
        shutil.rmtree(parts, ignore_errors=True)
        os.close(fd)


def sweep(folder: Path) -> None:
    """Remove what runs that died left in ``folder``; a live run's folder is never touched."""
    for stale in folder.glob("parts-*"):
        if stale.is_dir() and not stale.is_symlink() and _dead(stale):
            shutil.rmtree(stale, ignore_errors=True)
            log.info("workdir.swept", folder=stale.name)


def _dead(parts: Path) -> bool:
    """Whether no live run holds ``parts``: its owner lock is free (or it has none and is old)."""
    try:
        fd = os.open(parts / OWNER, os.O_RDONLY)
    except FileNotFoundError:
        try:
            return time.time() - parts.stat().st_mtime > UNOWNED_AGE
        except OSError:
            return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live run holds it
    finally:
        os.close(fd)
    return True


def _touch(path: str) -> str:
    """Run on a worker: write ``path`` and say where the worker is."""
    with open(path, "x", encoding="utf-8") as f:
        f.write("probe\n")
    return f"{os.uname().nodename}:{os.getpid()}"


def check_workers(executor: Executor, parts: Path) -> None:
    """Prove a worker of ``executor`` writes into ``parts`` as the driver sees it.

    A dask worker on another host, or a container without the volume, would
    otherwise fail every task as if each collector had failed.
    """
    probe = parts / f".worker-probe-{secrets.token_hex(4)}"
    fix = "give workdir= (--workdir) a folder every worker sees at the same path"
    try:
        future = executor.submit(_touch, str(probe))
    except Exception:  # an executor that takes no work fails each task by name instead
        return
    try:
        where = future.result(timeout=PROBE_SECONDS)
    except OSError as e:  # raised by the worker: it cannot write there
        raise ConfigurationError(
            f"a worker of the executor cannot write the work folder {parts.parent}"
            f" ({describe_exception(e)}); {fix}"
        ) from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # a worker that died, a pool that broke, a cancelled future:
        return  # each task says so by name
    if not probe.exists():
        raise ConfigurationError(
            f"a worker of the executor ({where}) wrote into {parts.parent}, but this process"
            f" does not see what it wrote there; {fix}"
        )
    probe.unlink()
