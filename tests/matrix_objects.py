"""Objects of the CNSS organisation that the role matrix puts into URLs, by parameter name.

An area that adds a route with a new URL parameter adds a builder here; a parameter
without one fails the role matrix test.
"""

from __future__ import annotations

from collections.abc import Callable

# Each builder gets the demo ids (see conftest.demo) inside an app context and returns an id.
BUILDERS: dict[str, Callable[[dict], object]] = {
    "org_id": lambda demo: demo["orgs"]["CNSS"],
    "user_id": lambda demo: demo["users"]["gestionnaire1@cnss.bj"],
    "account_id": lambda demo: demo["accounts"]["ACC-CNSS-001"],
    "batch_id": lambda demo: _cnss_batch(demo),
}

# Parameters that name objects owned by an organisation (another organisation gets 404).
ORG_SCOPED_PARAMS = {"account_id", "batch_id"}


def _cnss_batch(demo: dict) -> int:
    """An approved CNSS batch of two rows."""
    from tests.processing_support import make_approved_batch

    return make_approved_batch(["22997000001", "22997000002"], amount=1000)
