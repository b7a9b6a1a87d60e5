// Taps: a per-forward object that says, per layer, what to record and what to inject.
// Passed down explicitly (no global state). The distiller owns it; models only forward it.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <set>

namespace attnd {

// What a layer can record. Bit flags, combine with |.
enum Record : unsigned {
  kRecordNone = 0,
  kRecordLogits = 1u << 0,       // scaled pre-softmax logits q·kᵀ/√d, unmasked, [B, H, Nq, Nk]
  kRecordProbs = 1u << 1,        // attention probabilities, [B, H, Nq, Nk]
  kRecordHeadOutputs = 1u << 2,  // per-head context before the output projection, [B, H, Nq, Dh]
  kRecordHidden = 1u << 3,       // the block's output hidden state, [B, N, D]
  kRecordAll = 0xFu,
};

struct LayerCapture {
  torch::Tensor logits;
  torch::Tensor probs;
  torch::Tensor head_outputs;
  torch::Tensor hidden;
};

class Taps {
 public:
  // Record `what` in `layers` (empty = every layer). Calls accumulate.
  Taps& record(unsigned what, const std::set<int64_t>& layers = {});
  // Make `layer` use these probabilities [B, H, Nq, Nk] instead of computing its own: the layer
  // then does not compute its own queries and keys (attention copy).
  Taps& inject_probs(int64_t layer, torch::Tensor probs);
  // Make `layer` use softmax(logits + mask) with these pre-softmax logits [B, H, Nq, Nk].
  Taps& inject_logits(int64_t layer, torch::Tensor logits);

  bool wants(int64_t layer, Record what) const;
  const torch::Tensor* injected_probs(int64_t layer) const;
  const torch::Tensor* injected_logits(int64_t layer) const;

  // Models and attention modules write here.
  LayerCapture& capture(int64_t layer) { return captures_[layer]; }
  // Readers: throws attnd::Error naming the layer if nothing was recorded there.
  const LayerCapture& at(int64_t layer) const;
  const std::map<int64_t, LayerCapture>& captures() const { return captures_; }
  void clear_captures() { captures_.clear(); }

 private:
  unsigned record_all_layers_ = kRecordNone;
  std::map<int64_t, unsigned> record_per_layer_;
  std::map<int64_t, torch::Tensor> inject_probs_;
  std::map<int64_t, torch::Tensor> inject_logits_;
  std::map<int64_t, LayerCapture> captures_;
};

}  // namespace attnd
