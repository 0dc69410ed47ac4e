"""Named model sizes, all Qwen2.5-VL (`Qwen2_5_VLForConditionalGeneration`) built from a config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from transformers import PreTrainedTokenizerFast, Qwen2_5_VLConfig

from medforget_data.errors import check_choice
from medforget_data.models.tokenizer import EOS, IMAGE_PAD, PAD, VIDEO_PAD, VISION_END, VISION_START


class ModelSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    vocab_size: int
    hidden_size: int
    layers: int
    heads: int
    kv_heads: int
    intermediate_size: int
    vision_depth: int
    vision_hidden: int
    vision_heads: int
    vision_intermediate: int
    mrope_section: tuple[int, int, int]  # sums to head_dim / 2
    lr: float  # the fine-tuning recipe's peak learning rate for this size


MODEL_SPECS: dict[str, ModelSpec] = {
    # seconds on a CPU: for tests
    "tiny": ModelSpec(
        vocab_size=1024,
        hidden_size=64,
        layers=2,
        heads=2,
        kv_heads=1,
        intermediate_size=128,
        vision_depth=1,
        vision_hidden=32,
        vision_heads=1,
        vision_intermediate=64,
        mrope_section=(4, 6, 6),
        lr=2e-3,
    ),
    # the default target: memorises the `full` train config on 2 CPU cores (see BENCHMARKS.md)
    "small": ModelSpec(
        vocab_size=4096,
        hidden_size=192,
        layers=4,
        heads=6,
        kv_heads=2,
        intermediate_size=512,
        vision_depth=2,
        vision_hidden=64,
        vision_heads=2,
        vision_intermediate=128,
        mrope_section=(4, 6, 6),
        lr=1e-3,  # 2e-3 and 4e-3 stalled on the random digit strings; 1e-3 memorises (BENCHMARKS.md)
    ),
    # a GPU-sized check of the same code path (≥ 100M parameters)
    "base": ModelSpec(
        vocab_size=8192,
        hidden_size=768,
        layers=12,
        heads=12,
        kv_heads=4,
        intermediate_size=3072,
        vision_depth=4,
        vision_hidden=256,
        vision_heads=4,
        vision_intermediate=1024,
        mrope_section=(8, 12, 12),
        lr=3e-4,  # 2e-3 diverged to NaN within 3 epochs in bf16 on a GPU (BENCHMARKS.md)
    ),
}
MODEL_NAMES: tuple[str, ...] = tuple(MODEL_SPECS)
# Each config pretrained on the corpus disjoint from the benchmark (models/pretrain.py): the base the
# benchmark's facts are fine-tuned into, through the checkpoint path (`base` is a size, hence the suffix).
PRETRAINED_SUFFIX = "-pretrained"
PRETRAINED_NAMES: tuple[str, ...] = tuple(f"{name}{PRETRAINED_SUFFIX}" for name in MODEL_NAMES)

IMAGE_SIDE = 112  # pixels the processor resizes to: 8×8 patches of 14 → 16 visual tokens after 2×2 merging


def qwen_config(name: str, tokenizer: PreTrainedTokenizerFast) -> Qwen2_5_VLConfig:
    check_choice("model config", name, MODEL_NAMES)
    spec = MODEL_SPECS[name]
    ids = {
        token: tokenizer.convert_tokens_to_ids(token)
        for token in (PAD, EOS, VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD)
    }
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=spec.hidden_size,
            intermediate_size=spec.intermediate_size,
            num_hidden_layers=spec.layers,
            num_attention_heads=spec.heads,
            num_key_value_heads=spec.kv_heads,
            max_position_embeddings=2048,
            rope_scaling={"type": "mrope", "mrope_section": list(spec.mrope_section)},
            tie_word_embeddings=True,
            bos_token_id=ids[EOS],
            eos_token_id=ids[EOS],
            pad_token_id=ids[PAD],
        ),
        vision_config=dict(
            depth=spec.vision_depth,
            hidden_size=spec.vision_hidden,
            intermediate_size=spec.vision_intermediate,
            num_heads=spec.vision_heads,
            out_hidden_size=spec.hidden_size,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=56,
            fullatt_block_indexes=[spec.vision_depth - 1],
        ),
        image_token_id=ids[IMAGE_PAD],
        video_token_id=ids[VIDEO_PAD],
        vision_start_token_id=ids[VISION_START],
        vision_end_token_id=ids[VISION_END],
        tie_word_embeddings=True,
    )
    config.bos_token_id, config.eos_token_id, config.pad_token_id = ids[EOS], ids[EOS], ids[PAD]
    return config
