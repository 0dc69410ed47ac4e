"""The target model kit: tokenizer, processor, Qwen2.5-VL configs, batches, fine-tuning, generation."""
