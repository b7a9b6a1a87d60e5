// Taps: a per-forward object that says, per layer, what to record and what to inject.
// Passed down explicitly (no global state). The distiller owns it; models only forward it.
//
// A layer is addressed by (stack, index): an encoder-only or decoder-only model has one stack,
// kEncoder, and a plain layer number means that stack; an encoder–decoder model (a detector) also
// has its decoder's self-attention layers (kDecoder) and its cross-attention layers (kCross), each
// numbered from 0.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace attnd {

enum class Stack : int { kEncoder = 0, kDecoder = 1, kCross = 2 };
const char* to_string(Stack stack);  // "encoder", "decoder", "cross"

struct LayerId {
  Stack stack = Stack::kEncoder;
  int64_t index = 0;

  LayerId() = default;
  // A plain layer number: the layer of the model's first (or only) stack.
  LayerId(int64_t layer) : index(layer) {}  // NOLINT(google-explicit-constructor): on purpose
  LayerId(Stack s, int64_t layer) : stack(s), index(layer) {}

  bool operator<(const LayerId& o) const {
    return stack != o.stack ? stack < o.stack : index < o.index;
  }
  bool operator==(const LayerId& o) const { return stack == o.stack && index == o.index; }
};
// "3" for encoder layers (the common case, as before stacks existed), "decoder 3", "cross 3".
std::string to_string(const LayerId& id);

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
  // Record `what` in `layers` (empty = every layer of every stack). Calls accumulate.
  Taps& record(unsigned what, const std::set<LayerId>& layers = {});
  // Make `layer` use these probabilities [B, H, Nq, Nk] instead of computing its own: the layer
  // then does not compute its own queries and keys (attention copy).
  Taps& inject_probs(const LayerId& layer, torch::Tensor probs);
  // Make `layer` use softmax(logits + mask) with these pre-softmax logits [B, H, Nq, Nk]. With
  // `heads` given, only those heads take the injected logits; the others compute their own.
  Taps& inject_logits(const LayerId& layer, torch::Tensor logits, std::vector<int64_t> heads = {});
  // Make `layer` use this per-head projection [B, H, N, Dh] instead of computing its own.
  Taps& inject_projection(const LayerId& layer, Projection which, torch::Tensor value);

  bool wants(const LayerId& layer, Record what) const;
  const torch::Tensor* injected_probs(const LayerId& layer) const;
  const torch::Tensor* injected_logits(const LayerId& layer) const;
  // The heads that take injected logits at `layer`; empty = all.
  const std::vector<int64_t>& injected_heads(const LayerId& layer) const;
  const torch::Tensor* injected_projection(const LayerId& layer, Projection which) const;

  // Models and attention modules write here.
  LayerCapture& capture(const LayerId& layer) { return captures_[layer]; }
  // Readers: throws attnd::Error naming the layer if nothing was recorded there.
  const LayerCapture& at(const LayerId& layer) const;
  const std::map<LayerId, LayerCapture>& captures() const { return captures_; }
  void clear_captures() { captures_.clear(); }

 private:
  unsigned record_all_layers_ = kRecordNone;
  std::map<LayerId, unsigned> record_per_layer_;
  std::map<LayerId, torch::Tensor> inject_probs_;
  std::map<LayerId, torch::Tensor> inject_logits_;
  std::map<LayerId, std::vector<int64_t>> inject_heads_;
  std::map<std::pair<LayerId, int>, torch::Tensor> inject_projection_;
  std::map<LayerId, LayerCapture> captures_;
};

}  // namespace attnd
