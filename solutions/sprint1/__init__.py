"""Sprint 1: tensors, autograd, a first network."""

MODULES = ("tensors", "autograd", "first_network")  # in the order the syllabus teaches them
