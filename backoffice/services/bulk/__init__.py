"""Bulk payments: a batch from its file to its last paid row, one module per job."""
