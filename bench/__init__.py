"""Benchmarks and the soak test. Never collected or run by the test suite (testpaths = tests)."""
