"""Where services/batches.py finds `start_processing` until the approval moves to services/bulk/.

Processing itself lives in services/bulk/ (chunks, sending, settlement, finishing, sweep);
import from there. This module goes away with services/batches.py's split.
"""

from __future__ import annotations

from backoffice.services.bulk.chunks import start_processing

__all__ = ["start_processing"]
