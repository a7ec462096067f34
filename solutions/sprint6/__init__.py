"""Sprint 6: under the hood. A scalar autograd engine, Module and Parameter, a DataLoader
and its collate rules, and autograd Functions with hand-written backward passes."""

MODULES = ("micrograd", "module", "dataloader", "functions")  # the syllabus order
