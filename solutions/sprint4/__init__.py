"""Sprint 4: attention and the transformer block."""

MODULES = ("attention", "layers")  # in the order the syllabus teaches them
