"""Sprint 5: a GPT, from its tokenizer to its training loop."""

MODULES = ("tokenizer", "gpt", "train_gpt")  # in the order the syllabus teaches them
