// Token-by-token inference of a GPT-2 (softmax, linear or hybrid mixers, per layer), keeping one
// MixerDecodeState per layer instead of re-running the whole prefix for every new token.
// Per new token: wte + wpe(position) → per block: ln_1 → attention queries/keys/values of the
// new token → mixer decode_step → project_output → residual → ln_2 → mlp → residual; ln_f and the
// tied head (· wteᵀ). With linear mixers each step costs the same at any context length.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "attnd/models/gpt2.h"
#include "attnd/nn/decode_state.h"

namespace attnd {

class Gpt2Decoder {
 public:
  // InputError naming the model_type when `model` is not a gpt2, or naming the mixer / feature
  // map of a layer that cannot be decoded. Puts the model in eval mode (decoding is inference:
  // no dropout). The decoder runs on the model's device; keep the model alive and unchanged.
  explicit Gpt2Decoder(const Model& model);

  // Feeds one token per sequence: ids [B] (or [B, 1]) long, any device → logits [B, vocab] of the
  // next token, on the model's device. The first call fixes B.
  torch::Tensor step(const torch::Tensor& ids);
  // Feeds a prompt ids [B, n] (n ≥ 1) in one parallel pass per layer (each mixer's
  // decode_prefill builds its state exactly, so this equals n steps). Returns the logits of the
  // last position [B, vocab], or of every position [B, n, vocab] with all_logits.
  torch::Tensor prefill(const torch::Tensor& ids, bool all_logits = false);

  // Benchmarks: puts n positions of standard-normal keys and values (drawn from `seed`) into every
  // layer's state (MixerImpl::decode_absorb) without running them, as if n tokens had been fed.
  // The steps that follow cost what they cost at context n (the same shapes and state sizes);
  // their logits mean nothing. Softmax reaches 64k positions without an O(n²) prefill this way.
  // Fresh decoder only (position 0); n + the steps to come must fit n_positions.
  void fill_synthetic_context(int64_t n, uint64_t seed = 0, int64_t batch = 1);

  // Positions fed so far (the position id of the next token).
  int64_t position() const { return position_; }
  // state_bytes() of each layer's state.
  std::vector<int64_t> state_bytes() const;
  // Forgets every position (new, empty states).
  void reset();
  Gpt2ModelImpl& model() { return *model_; }

 private:
  // hidden [B, n, D] of the new positions → logits, updating the states.
  torch::Tensor run(const torch::Tensor& ids, bool all_logits);

  std::shared_ptr<Gpt2ModelImpl> model_;
  std::vector<std::unique_ptr<MixerDecodeState>> states_;
  int64_t position_ = 0;
  int64_t batch_ = -1;
};

// The model as a gpt2, or InputError naming its model_type and `who` (e.g. "attnd generate").
std::shared_ptr<Gpt2ModelImpl> as_gpt2(const Model& model, const char* who);

}  // namespace attnd
