"""Live progress of a batch: the HTMX fragment polled by the batch page."""
