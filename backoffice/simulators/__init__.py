"""Partner simulators: separate WSGI apps started by tests, benchmarks and the run command."""
