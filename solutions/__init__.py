"""The reference solutions. `exercises/` is generated from this tree by `nox -s stubs`."""
