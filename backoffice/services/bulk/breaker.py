"""A circuit breaker for one job's sends: stop sending while the adapter answers nothing.

When the adapter reads requests and drops them (an outage behind a load balancer, a crashed
switch), every transfer sent becomes UNKNOWN and waits for its status check. Without a
breaker a job would go on sending at full speed into the outage, turning thousands of rows
into transfers nobody can account for until the checks come back.

- closed: rows are sent. After TRIP_AFTER unknown outcomes in a row (no answered transfer
  between them) → open.
- open: no row is sent. Every STATUS_PROBE_SECONDS one status request (GET of the last
  unknown transfer: it pays nothing) asks whether the adapter answers at all. When it does
  → half-open.
- half-open: one row is sent as a probe. Answered (paid or refused) → closed; unknown →
  open again, and the next row probe waits at least ROW_PROBE_PAUSE (doubled each time, up
  to ROW_PROBE_MAX_PAUSE), so an adapter that answers status requests but no transfer costs
  one row per pause, not a row per status probe.
"""

from __future__ import annotations

import enum
import logging

log = logging.getLogger(__name__)

TRIP_AFTER = 16  # unknown outcomes in a row
STATUS_PROBE_SECONDS = 0.2
ROW_PROBE_PAUSE = 0.5
ROW_PROBE_MAX_PAUSE = 8.0


class State(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class Breaker:
    def __init__(self, label: str = "") -> None:
        self.label = label
        self.state = State.CLOSED
        self.unknown_in_a_row = 0
        self.next_probe = 0.0  # open: when the next status probe may go out
        self.rows_not_before = 0.0  # half-open: when the row probe may go out
        self.pause = ROW_PROBE_PAUSE
        self.probing = False  # a probe (status or row) is in flight
        self.probe_row: int | None = None

    @property
    def closed(self) -> bool:
        return self.state == State.CLOSED

    # --- what may go out ---------------------------------------------------------------

    def may_send(self, now: float) -> bool:
        """Whether a row may go out now (half-open: one, the probe)."""
        if self.state == State.CLOSED:
            return True
        return self.state == State.HALF_OPEN and not self.probing and now >= self.rows_not_before

    def wants_status_probe(self, now: float) -> bool:
        return self.state == State.OPEN and not self.probing and now >= self.next_probe

    def wake_in(self, now: float) -> float | None:
        """Seconds until a probe is due (None: none is waited for)."""
        if self.probing or self.state == State.CLOSED:
            return None
        due = self.next_probe if self.state == State.OPEN else self.rows_not_before
        return max(due - now, 0.0)

    # --- what happened -----------------------------------------------------------------

    def sent(self, row_id: int) -> None:
        """A row went out; half-open, it is the probe."""
        if self.state == State.HALF_OPEN:
            self.probing, self.probe_row = True, row_id

    def status_probe_sent(self) -> None:
        self.probing = True

    def status_probe(self, answered: bool, now: float) -> None:
        """The status probe came back: `answered` is any answer of the adapter."""
        self.probing = False
        if answered:
            self.state = State.HALF_OPEN
        else:
            self.next_probe = now + STATUS_PROBE_SECONDS

    def outcome(self, row_id: int, answered: bool, now: float) -> None:
        """A row's send came back: `answered` is False for an unknown outcome."""
        if self.state == State.HALF_OPEN and self.probing and row_id == self.probe_row:
            self.probing, self.probe_row = False, None
            if answered:
                log.warning("%s: the adapter answers again, sending resumes", self.label)
                self.state, self.pause, self.unknown_in_a_row = State.CLOSED, ROW_PROBE_PAUSE, 0
            else:
                self._open(now)
                self.rows_not_before = now + self.pause
                self.pause = min(self.pause * 2, ROW_PROBE_MAX_PAUSE)
            return
        if self.state != State.CLOSED:
            return  # sent before the breaker opened
        if answered:
            self.unknown_in_a_row = 0
            return
        self.unknown_in_a_row += 1
        if self.unknown_in_a_row >= TRIP_AFTER:
            self._open(now)
            log.warning("%s: %s unknown outcomes in a row, sending paused", self.label, self.unknown_in_a_row)

    def _open(self, now: float) -> None:
        self.state = State.OPEN
        self.next_probe = now + STATUS_PROBE_SECONDS
