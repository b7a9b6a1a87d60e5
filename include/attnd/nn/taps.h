// Taps: a per-forward object that says, per layer, what to record and what to inject.
// Passed down explicitly (no global state). The distiller owns it; models only forward it.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

namespace attnd {

// What a layer can record. Bit flags, combine with |.
enum Record : unsigned {
  kRecordNone = 0,
  kRecordLogits = 1u << 0,       // scaled pre-softmax logits q·kᵀ/√d, unmasked, [B, H, Nq, Nk]
  kRecordProbs = 1u << 1,        // attention probabilities, [B, H, Nq, Nk]
  kRecordHeadOutputs = 1u << 2,  // per-head context before the output projection, [B, H, Nq, Dh]
  kRecordHidden = 1u << 3,       // the block's output hidden state, [B, N, D]
  kRecordQueries = 1u << 4,      // per-head queries, unscaled, [B, H, N, Dh]
  kRecordKeys = 1u << 5,         // per-head keys, [B, H, N, Dh]
  kRecordValues = 1u << 6,       // per-head values, [B, H, N, Dh]
  kRecordAll = 0x7Fu,
};

struct LayerCapture {
  torch::Tensor logits;
  torch::Tensor probs;
  torch::Tensor head_outputs;
  torch::Tensor hidden;
  torch::Tensor queries;
  torch::Tensor keys;
  torch::Tensor values;
};

// Which per-head projection an injection replaces (attention transfer's copy_q / copy_k / copy_v).
enum class Projection { kQuery, kKey, kValue };

class Taps {
 public:
  // Record `what` in `layers` (empty = every layer). Calls accumulate.
  Taps& record(unsigned what, const std::set<int64_t>& layers = {});
  // Make `layer` use these probabilities [B, H, Nq, Nk] instead of computing its own: the layer
  // then does not compute its own queries and keys (attention copy).
  Taps& inject_probs(int64_t layer, torch::Tensor probs);
  // Make `layer` use softmax(logits + mask) with these pre-softmax logits [B, H, Nq, Nk]. With
  // `heads` given, only those heads take the injected logits; the others compute their own.
  Taps& inject_logits(int64_t layer, torch::Tensor logits, std::vector<int64_t> heads = {});
  // Make `layer` use this per-head projection [B, H, N, Dh] instead of computing its own.
  Taps& inject_projection(int64_t layer, Projection which, torch::Tensor value);

  bool wants(int64_t layer, Record what) const;
  const torch::Tensor* injected_probs(int64_t layer) const;
  const torch::Tensor* injected_logits(int64_t layer) const;
  // The heads that take injected logits at `layer`; empty = all.
  const std::vector<int64_t>& injected_heads(int64_t layer) const;
  const torch::Tensor* injected_projection(int64_t layer, Projection which) const;

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
  std::map<int64_t, std::vector<int64_t>> inject_heads_;
  std::map<std::pair<int64_t, int>, torch::Tensor> inject_projection_;
  std::map<int64_t, LayerCapture> captures_;
};

}  // namespace attnd
