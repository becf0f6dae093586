"""Bulk payments area: upload, validation, approval, progress, history, export."""
