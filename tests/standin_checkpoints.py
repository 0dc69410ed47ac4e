"""Stand-ins for the checkpoints users bring, in the Hub's on-disk layout, from transformers' classes.

Random weights at tiny sizes, saved bf16 in several safetensors shards with an index, the real
image processors (Qwen2VLImageProcessor's defaults but for fewer pixels; CLIPImageProcessor), a
Qwen-style tokenizer and chat template / a LLaMA-style tokenizer (BOS, `</s>`, `<image>`) with
LLaVA-1.5's template, and the generation_config.json each model ships (Qwen2.5-VL-7B's sampling
settings and repetition penalty, which generation must not inherit).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    GenerationConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLImageProcessor,
)

from medforget_data.models.build import corpus_texts
from medforget_data.models.tokenizer import EOS, IMAGE_PAD, PAD, VIDEO_PAD, VISION_END, VISION_START
from medforget_data.models.tokenizer import train_tokenizer as qwen_style_tokenizer

SHARD = "300KB"  # several shards even at these sizes, as the Hub stores 3B/7B models
# Both families' language models, at one tiny size (grouped-query attention, as the 7Bs)
STANDIN_TEXT_SIZES = dict(
    hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=1
)

# LLaVA-1.5 (llava-hf) chat template: "USER: <image>\n{question} ASSISTANT:"
LLAVA_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() + ': ' }}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}"
    "{% endfor %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' ' }}{% endfor %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
# Qwen2.5-VL-7B-Instruct's generation_config.json, the penalty made strong enough to show if it leaks
QWEN_GENERATION = dict(do_sample=True, repetition_penalty=50.0, temperature=0.1, top_p=0.001, top_k=1)


def _save_bf16(model: torch.nn.Module, folder: Path) -> None:
    model.to(torch.bfloat16).save_pretrained(folder, max_shard_size=SHARD, safe_serialization=True)


def qwen2_5_vl_checkpoint(folder: Path, dataset_dir: Path, seed: int = 0) -> Path:
    tokenizer = qwen_style_tokenizer(corpus_texts(dataset_dir), 768)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (PAD, EOS, VISION_START, VISION_END, IMAGE_PAD)}
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            **STANDIN_TEXT_SIZES,
            rope_scaling={"type": "mrope", "mrope_section": [4, 6, 6]},
            tie_word_embeddings=False,  # as the 7B
            bos_token_id=ids[PAD],
            eos_token_id=ids[EOS],
            pad_token_id=ids[PAD],
        ),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=48,
            num_heads=2,
            out_hidden_size=64,
            fullatt_block_indexes=[1],
        ),
        image_token_id=ids[IMAGE_PAD],
        video_token_id=tokenizer.convert_tokens_to_ids(VIDEO_PAD),
        vision_start_token_id=ids[VISION_START],
        vision_end_token_id=ids[VISION_END],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    _save_bf16(Qwen2_5_VLForConditionalGeneration(config), folder)
    # the real processor's defaults, but at most 112×112 pixels (16 visual tokens) for a CPU test
    Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    GenerationConfig(
        eos_token_id=[ids[EOS], ids[PAD]], pad_token_id=ids[PAD], **QWEN_GENERATION
    ).save_pretrained(folder)
    _declare_processor(folder, "Qwen2_5_VLProcessor")
    return folder


def llama_style_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    specials = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    bos = tokenizer.token_to_id("<s>")
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )


def llava_checkpoint(folder: Path, dataset_dir: Path, seed: int = 0) -> Path:
    tokenizer = llama_style_tokenizer(corpus_texts(dataset_dir), 768)
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=56,
            patch_size=14,
            projection_dim=32,
        ),
        text_config=LlamaConfig(
            vocab_size=len(tokenizer),
            **STANDIN_TEXT_SIZES,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
        image_token_id=image_id,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    torch.manual_seed(seed)
    _save_bf16(LlavaForConditionalGeneration(config), folder)
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56}),
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_TEMPLATE,
    )
    processor.save_pretrained(folder)
    GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ).save_pretrained(folder)
    return folder


def _declare_processor(folder: Path, name: str) -> None:
    """The Hub's files name their processor class (what AutoProcessor reads)."""
    for file in ("preprocessor_config.json", "tokenizer_config.json"):
        path = folder / file
        data = json.loads(path.read_text(encoding="utf-8"))
        data["processor_class"] = name
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
