"""RQ entry points: take ids, call services, never hold business rules."""
