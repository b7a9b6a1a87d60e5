// A mixer turns per-head queries, keys and values into per-head context vectors. It is the part of
// an attention layer that the methods swap (softmax, linear, hybrid, ...); swapping it never touches
// the layer's projection weights. A mixer may own parameters (e.g. learned feature maps): they are
// registered under "<attention>.mixer.*".
#pragma once

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "attnd/nn/decode_state.h"
#include "attnd/nn/mask.h"
#include "attnd/nn/taps.h"

namespace attnd {

// What the surrounding layer wants recorded from this forward; capture is null if nothing.
struct MixerTap {
  bool want_logits = false;
  bool want_probs = false;
  LayerCapture* capture = nullptr;
};

class MixerImpl : public torch::nn::Module {
 public:
  // The registry name ("softmax", "linear", ...), saved in checkpoints.
  virtual std::string kind() const = 0;
  // Everything make_mixer(spec) needs to build this mixer again (a checkpoint records it per
  // layer); the parameters themselves are saved with the model.
  virtual nlohmann::json spec() const { return {{"kind", kind()}}; }
  // q, k: [B, H, Nq|Nk, Dk]; v: [B, H, Nk, Dv]; returns [B, H, Nq, Dv]. q and k are unscaled.
  // Fill tap.capture->logits / ->probs when asked (a mixer that has no logits leaves them empty).
  virtual torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const AttentionMask& mask,
                                const MixerTap& tap) = 0;

  // Incremental causal decoding, for inference (no dropout, no taps). start_decode() makes an
  // empty per-layer state. decode_step feeds the next position, q, k [B, H, 1, Dk] and
  // v [B, H, 1, Dv], and returns its context [B, H, 1, Dv]: the last row of forward() with a
  // causal mask over every position fed so far (equal to rounding). decode_prefill feeds n ≥ 1
  // positions at once ([B, H, n, ·] → [B, H, n, Dv]), the same as n decode_steps; the default
  // loops over decode_step, mixers override it with a parallel form.
  // The base class refuses (InputError naming the kind): a mixer opts in by overriding.
  virtual std::unique_ptr<MixerDecodeState> start_decode();
  virtual torch::Tensor decode_step(const torch::Tensor& q, const torch::Tensor& k,
                                    const torch::Tensor& v, MixerDecodeState& state);
  virtual torch::Tensor decode_prefill(const torch::Tensor& q, const torch::Tensor& k,
                                       const torch::Tensor& v, MixerDecodeState& state);
  // Puts n positions' keys k [B, H, n, Dk] and values v [B, H, n, Dv] into an empty state without
  // computing their outputs, so that decoding continues as if they had been fed. Benchmarks use
  // it to decode at a long synthetic context without the prefill (O(n²) for softmax). The base
  // class refuses, as start_decode does.
  virtual void decode_absorb(const torch::Tensor& k, const torch::Tensor& v,
                             MixerDecodeState& state);
};
using Mixer = std::shared_ptr<MixerImpl>;

// The reference path: explicit probabilities softmax(q·kᵀ/√d + mask), then dropout, then ·v.
class SoftmaxMixerImpl : public MixerImpl {
 public:
  explicit SoftmaxMixerImpl(double dropout = 0.0) : dropout_(dropout) {}
  std::string kind() const override { return "softmax"; }
  nlohmann::json spec() const override { return {{"kind", kind()}, {"dropout", dropout_}}; }
  torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const AttentionMask& mask, const MixerTap& tap) override;
  // A KvCache: memory and time per step grow with the context.
  std::unique_ptr<MixerDecodeState> start_decode() override;
  torch::Tensor decode_step(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            MixerDecodeState& state) override;
  torch::Tensor decode_prefill(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, MixerDecodeState& state) override;
  void decode_absorb(const torch::Tensor& k, const torch::Tensor& v,
                     MixerDecodeState& state) override;

 private:
  double dropout_;
};

// Shared by every mixer that ends in explicit probabilities (softmax, injected logits).
// q·kᵀ/√d without any mask (recorded logits are unmasked; consumers apply the mask).
torch::Tensor scaled_logits(const torch::Tensor& q, const torch::Tensor& k);
torch::Tensor masked_softmax(const torch::Tensor& logits, const AttentionMask& mask);

// Checks decoding inputs: q, k [B, H, n, Dk] alike, v [B, H, n, Dv], n = 1 when one_position
// (decode_step), n ≥ 1 otherwise (decode_prefill); `who` names the mixer in the InputError.
void check_decode_step(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                       const std::string& who, bool one_position = true);
// Checks decode_absorb's inputs: k [B, H, n, Dk], v [B, H, n, Dv] with n ≥ 1, and an empty state.
void check_decode_absorb(const torch::Tensor& k, const torch::Tensor& v,
                         const MixerDecodeState& state, const std::string& who);

// Creates a mixer by registry name; throws InputError listing the known names otherwise.
// Only kinds without shape-dependent options ("softmax"); the others need a spec.
Mixer make_mixer(const std::string& kind, double dropout = 0.0);
// Makes make_mixer("softmax") pick the overload above rather than the json one.
inline Mixer make_mixer(const char* kind, double dropout = 0.0) {
  return make_mixer(std::string(kind), dropout);
}
// Creates a mixer from its spec(): {"kind": "softmax", "dropout": 0.1},
// {"kind": "linear", "feature_map": "softmax_split", "num_heads": 4, "head_dim": 16, ...},
// {"kind": "hybrid", ..., "window": 64}. Unknown kinds and keys throw InputError naming them.
Mixer make_mixer(const nlohmann::json& spec);
// The registry's kinds, for messages and listings.
std::vector<std::string> mixer_names();

}  // namespace attnd
