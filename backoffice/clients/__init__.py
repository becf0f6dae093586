"""HTTP clients of partner APIs: timeouts, typed results, one error type each."""
