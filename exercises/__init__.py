"""Your work: stubs generated from solutions/ by `nox -s stubs`."""
