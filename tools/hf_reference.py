#!/usr/bin/env python3
"""Reference logits from Hugging Face transformers for small random models (issue 14).

Wherever the `transformers` package is installed (pip install torch transformers safetensors;
attnd's own machines have no PyPI), this writes one directory per model into OUT (default
<repo>/data/hf-reference, git-ignored):

    <name>/config.json, <name>/model.safetensors   as save_pretrained writes them
    <name>/reference.json                          the inputs and transformers' logits

for
    bert       BertForSequenceClassification, padding and token types in the input
    bert-f16   the same architecture stored in float16 (attnd computes in float32)
    gpt2       GPT2LMHeadModel (its tied lm_head is not in the file)
    gpt2-base  GPT2Model without the "transformer." prefix; logits = last hidden state @ wteᵀ
    vit        ViTForImageClassification (3 channels, 8x8 images, 4x4 patches)

tests/test_hf_reference.cpp loads each directory with attnd and compares its logits; it skips
when the files are absent. Copy OUT to the machine's data/hf-reference (or $ATTND_DATA_DIR/
hf-reference) to run it there. The weights are drawn from --seed, then moved away from
transformers' small initialisation so that the logits are far from zero.
"""

import argparse
import json
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent


def perturb(model, torch):
    """Adds N(0, 0.3²) to every weight (LayerNorm gains stay near 1), in place."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(torch.randn_like(p) * (0.1 if "LayerNorm" in name or "ln_" in name
                                          or "layernorm" in name else 0.3))


def write(out, name, model, inputs, logits, torch, transformers, dtype=None):
    target = out / name
    target.mkdir(parents=True, exist_ok=True)
    saved = model if dtype is None else model.to(dtype)
    saved.save_pretrained(target, safe_serialization=True)
    reference = {
        "architecture": type(model).__name__,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "inputs": {k: v.tolist() for k, v in inputs.items()},
        "logits": logits.tolist(),
    }
    (target / "reference.json").write_text(json.dumps(reference) + "\n")
    print(f"wrote {target} ({type(model).__name__}, logits {list(logits.shape)})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=REPO / "data" / "hf-reference")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        import torch
        import transformers
        import safetensors  # noqa: F401  (save_pretrained(safe_serialization=True) needs it)
    except ImportError as e:
        sys.exit(f"hf_reference.py: needs torch, transformers and safetensors ({e}); "
                 "pip install torch transformers safetensors")
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    # BERT: padded second row, both token types.
    bert_config = transformers.BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=24, max_position_embeddings=16, type_vocab_size=2, num_labels=3,
        hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    text = {
        "input_ids": torch.tensor([[2, 17, 31, 8, 3, 44, 12, 3], [2, 9, 9, 40, 3, 0, 0, 0]]),
        "token_type_ids": torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0, 0]]),
    }
    bert = transformers.BertForSequenceClassification(bert_config).eval()
    perturb(bert, torch)
    with torch.no_grad():
        write(args.out, "bert", bert, text, bert(**text).logits, torch, transformers)
        # float16 storage: round the weights to float16 first, so that the float32 forward on
        # them is what a reader computing in float32 from the float16 file gets.
        bert16 = transformers.BertForSequenceClassification(bert_config).eval()
        perturb(bert16, torch)
        for p in bert16.parameters():
            p.copy_(p.half().float())
        write(args.out, "bert-f16", bert16, text, bert16(**text).logits, torch, transformers,
              dtype=torch.float16)

    # GPT-2: the hub's layout (GPT2LMHeadModel) and the base model without prefix.
    gpt2_config = transformers.GPT2Config(
        vocab_size=40, n_positions=16, n_embd=16, n_layer=2, n_head=2,
        activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=0, eos_token_id=0)
    ids = {"input_ids": torch.tensor([[5, 17, 3, 39, 0, 22, 8, 8, 11, 30]])}
    gpt2 = transformers.GPT2LMHeadModel(gpt2_config).eval()
    perturb(gpt2, torch)
    base = transformers.GPT2Model(gpt2_config).eval()
    perturb(base, torch)
    with torch.no_grad():
        write(args.out, "gpt2", gpt2, ids, gpt2(**ids).logits, torch, transformers)
        hidden = base(**ids).last_hidden_state
        write(args.out, "gpt2-base", base, ids, hidden @ base.wte.weight.T, torch, transformers)

    # ViT: CLS token logits after the final LayerNorm.
    vit_config = transformers.ViTConfig(
        image_size=8, patch_size=4, num_channels=3, hidden_size=16, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=24, num_labels=3, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0)
    vit = transformers.ViTForImageClassification(vit_config).eval()
    perturb(vit, torch)
    pixels = {"pixel_values": torch.rand(2, 3, 8, 8)}
    with torch.no_grad():
        write(args.out, "vit", vit, pixels, vit(**pixels).logits, torch, transformers)


if __name__ == "__main__":
    main()
