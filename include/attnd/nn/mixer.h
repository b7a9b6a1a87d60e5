// A mixer turns per-head queries, keys and values into per-head context vectors. It is the part of
// an attention layer that the methods swap (softmax, linear, hybrid, ...); swapping it never touches
// the layer's projection weights. A mixer may own parameters (e.g. learned feature maps): they are
// registered under "<attention>.mixer.*".
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <string>

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
  // q, k: [B, H, Nq|Nk, Dk]; v: [B, H, Nk, Dv]; returns [B, H, Nq, Dv]. q and k are unscaled.
  // Fill tap.capture->logits / ->probs when asked (a mixer that has no logits leaves them empty).
  virtual torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const AttentionMask& mask,
                                const MixerTap& tap) = 0;
};
using Mixer = std::shared_ptr<MixerImpl>;

// The reference path: explicit probabilities softmax(q·kᵀ/√d + mask), then dropout, then ·v.
class SoftmaxMixerImpl : public MixerImpl {
 public:
  explicit SoftmaxMixerImpl(double dropout = 0.0) : dropout_(dropout) {}
  std::string kind() const override { return "softmax"; }
  torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const AttentionMask& mask, const MixerTap& tap) override;

 private:
  double dropout_;
};

// Shared by every mixer that ends in explicit probabilities (softmax, injected logits).
// q·kᵀ/√d without any mask (recorded logits are unmasked; consumers apply the mask).
torch::Tensor scaled_logits(const torch::Tensor& q, const torch::Tensor& k);
torch::Tensor masked_softmax(const torch::Tensor& logits, const AttentionMask& mask);

// Creates a mixer by registry name; throws InputError listing the known names otherwise.
Mixer make_mixer(const std::string& kind, double dropout = 0.0);

}  // namespace attnd
