"""Bulk payment batches and their rows (see the bulk payments area)."""
