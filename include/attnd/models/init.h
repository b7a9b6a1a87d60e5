// Weight initialisation as Hugging Face's `_init_weights` does it, drawing from the global torch RNG
// (seed it with torch::manual_seed). Model constructors call init_weights, so a freshly created
// model is initialised like HF's `Model(config)`.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

namespace attnd {

class ModelImpl;

// In place: values from N(mean, std) truncated to [a, b] (absolute bounds, like
// torch.nn.init.trunc_normal_, whose defaults are a = -2, b = 2).
void trunc_normal_(torch::Tensor t, double mean, double std, double a = -2.0, double b = 2.0);

struct InitOptions {
  double initializer_range = 0.02;
  bool truncated = false;          // Linear/Conv weights: trunc_normal (ViT) instead of normal
  int64_t scaled_c_proj_layers = 0;    // > 0: "*.c_proj.weight" std /= sqrt(2 * this) (GPT-2)
};

// Linear/Conv2d weights N(0, range) (or truncated), biases 0; LayerNorm 1/0; Embedding N(0, range) with
// the padding_idx row (if the embedding has one) zeroed.
// Parameters under a "mixer" child are left alone (each mixer initialises its own).
// ViT's cls_token / position_embeddings are parameters of ViTEmbeddings, not modules: the ViT model
// initialises them itself with trunc_normal_.
void init_weights(torch::nn::Module& module, const InitOptions& options);

}  // namespace attnd
