"""A real Triton server for tests and benchmarks: server.TritonServer starts serve_entry.py (PyTriton,
under the Python 3.12 venv .venv-triton) on free loopback ports and stops it by process id."""
