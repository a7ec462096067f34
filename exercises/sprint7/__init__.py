"""Sprint7: TODO, what it teaches."""

MODULES = ('lora', 'quantization', 'kv_cache', 'mixed_precision', 'ddp')  # in the order the syllabus teaches them
