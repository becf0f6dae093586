"""Bulk payments: formats, importing, approval, history and reports of batches."""
