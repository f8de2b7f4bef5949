"""Stage 7, ship: hand an archive to the transport and record what came back.

Any exception from the transport is a failed shipment, never a crash of the
run; a ``ShipError`` may say the archive was perhaps delivered anyway, which
the run's report carries on.  The outcome is logged here, once per archive
(``ship.accepted``, ``ship.refused`` or ``ship.corrupted``); transports log
only their attempts.
"""

from __future__ import annotations

import time

from ..errors import ShipError, describe_exception, message_of
from ..log import logger
from ..protocols import Transport
from ..records import Archive, Shipment

__all__ = ["ship"]

log = logger("ship")


def ship(transport: Transport, archive: Archive) -> Shipment:
    """Send ``archive`` through ``transport``; return the shipment either way."""
    started = time.perf_counter()
    try:
        receipt = transport.send(archive)
    except ShipError as e:
        log.error(
            "ship.refused",
            archive=archive.name,
            error=message_of(e),
            status=e.status,
            attempts=e.attempts,
            maybe_delivered=e.maybe_delivered,
        )
        return Shipment(archive=archive, error=message_of(e), maybe_delivered=e.maybe_delivered)
    except Exception as e:
        message = describe_exception(e)
        log.error("ship.refused", archive=archive.name, error=message)
        return Shipment(archive=archive, error=message, maybe_delivered=True)
    if receipt.sha256 and receipt.sha256 != archive.sha256:
        message = f"destination reports sha256 {receipt.sha256}, archive has {archive.sha256}"
        log.error("ship.corrupted", archive=archive.name, error=message)
        return Shipment(archive=archive, error=message, maybe_delivered=True)
    log.info(
        "ship.accepted",
        archive=archive.name,
        bytes=archive.size,
        sha256=archive.sha256,
        destination=receipt.destination,
        status=receipt.status,
        location=receipt.location,
        request_id=receipt.request_id,
        attempts=receipt.attempts,
        maybe_duplicated=receipt.maybe_duplicated,
        seconds=round(time.perf_counter() - started, 3),
    )
    return Shipment(archive=archive, receipt=receipt)
