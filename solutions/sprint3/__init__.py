"""Sprint 3: models and training loops."""

MODULES = (
    "modules",
    "functional",
    "optimizers",
    "training",
)  # in the order the syllabus teaches them
