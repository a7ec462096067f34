"""Sprint 2: datasets, DataLoaders, transforms."""

MODULES = ("datasets", "loaders", "transforms")  # in the order the syllabus teaches them
