#include "attnd/nn/taps.h"

#include "attnd/core/error.h"

namespace attnd {

Taps& Taps::record(unsigned what, const std::set<int64_t>& layers) {
  if (layers.empty()) {
    record_all_layers_ |= what;
  } else {
    for (int64_t l : layers) record_per_layer_[l] |= what;
  }
  return *this;
}

Taps& Taps::inject_probs(int64_t layer, torch::Tensor probs) {
  inject_probs_[layer] = std::move(probs);
  return *this;
}

Taps& Taps::inject_logits(int64_t layer, torch::Tensor logits) {
  inject_logits_[layer] = std::move(logits);
  return *this;
}

bool Taps::wants(int64_t layer, Record what) const {
  if (record_all_layers_ & what) return true;
  auto it = record_per_layer_.find(layer);
  return it != record_per_layer_.end() && (it->second & what);
}

const torch::Tensor* Taps::injected_probs(int64_t layer) const {
  auto it = inject_probs_.find(layer);
  return it == inject_probs_.end() ? nullptr : &it->second;
}

const torch::Tensor* Taps::injected_logits(int64_t layer) const {
  auto it = inject_logits_.find(layer);
  return it == inject_logits_.end() ? nullptr : &it->second;
}

const LayerCapture& Taps::at(int64_t layer) const {
  auto it = captures_.find(layer);
  ATTND_CHECK(it != captures_.end(), "nothing was recorded for layer ", layer,
              " (was it requested with Taps::record, and does the model have that layer?)");
  return it->second;
}

}  // namespace attnd
