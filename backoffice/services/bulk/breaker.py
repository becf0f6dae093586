"""A circuit breaker for one job's sends: stop sending while the adapter answers nothing.

When the adapter reads requests and drops them (an outage behind a load balancer, a crashed
switch), every transfer sent becomes UNKNOWN and waits for its status check. Without a
breaker a job would go on sending at full speed into the outage, turning thousands of rows
into transfers nobody can account for until the checks come back. After TRIP_AFTER unknown
outcomes in a row (no answered transfer between them) the breaker opens: nothing new is
sent for a pause, then one row goes out as a probe. If the probe is answered (paid or
refused) sending resumes at full speed; if it is unknown the pause doubles, up to MAX_PAUSE.

The rows held back stay claimed by the job (SENDING under its lease, never sent): if the job
dies they are settled like any other row it held.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

TRIP_AFTER = 16  # unknown outcomes in a row
FIRST_PAUSE = 0.2  # seconds before the first probe, doubled after each unknown probe
MAX_PAUSE = 1.0


class Breaker:
    """closed → (TRIP_AFTER unknown in a row) → open → (pause over) → one probe → closed or open."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self.unknown_in_a_row = 0
        self.open_until: float | None = None  # None: closed
        self.pause = FIRST_PAUSE
        self.probe: int | None = None  # the row id of the probe in flight
        self.trips = 0

    @property
    def closed(self) -> bool:
        return self.open_until is None

    def may_send(self, now: float) -> bool:
        """Whether the next row may go out now (while open: one probe once the pause is over)."""
        if self.open_until is None:
            return True
        return self.probe is None and now >= self.open_until

    def sent(self, row_id: int) -> None:
        """A row went out; while open, it is the probe."""
        if self.open_until is not None:
            self.probe = row_id

    def wake_in(self, now: float) -> float | None:
        """Seconds until a probe may go out (None: nothing to wait for)."""
        if self.open_until is None or self.probe is not None:
            return None
        return max(self.open_until - now, 0.0)

    def outcome(self, row_id: int, answered: bool, now: float) -> None:
        """The result of a send: `answered` is False for an unknown outcome."""
        if self.open_until is not None:
            if row_id != self.probe:
                return  # sent before the breaker opened
            self.probe = None
            if answered:
                log.warning("%s: the adapter answers again, sending resumes", self.label)
                self.open_until, self.pause, self.unknown_in_a_row = None, FIRST_PAUSE, 0
            else:
                self.pause = min(self.pause * 2, MAX_PAUSE)
                self.open_until = now + self.pause
            return
        if answered:
            self.unknown_in_a_row = 0
            return
        self.unknown_in_a_row += 1
        if self.unknown_in_a_row >= TRIP_AFTER:
            self.trips += 1
            self.open_until = now + self.pause
            log.warning(
                "%s: %s unknown outcomes in a row, sending paused (one probe every %.1f s at most)",
                self.label,
                self.unknown_in_a_row,
                MAX_PAUSE,
            )
