"""Sprint 7: fine-tuning, quantization, fast inference, scaling out. LoRA checked against
peft, int8 and GGUF's Q4_0 checked against the gguf package, a KV cache, mixed precision
with a gradient scaler, and data-parallel training with DistributedDataParallel."""

MODULES = ("lora", "quantization", "kv_cache", "mixed_precision", "ddp")  # the syllabus order
