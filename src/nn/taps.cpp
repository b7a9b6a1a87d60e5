#include "attnd/nn/taps.h"

#include "attnd/core/error.h"

namespace attnd {

const char* to_string(Stack stack) {
  switch (stack) {
    case Stack::kEncoder: return "encoder";
    case Stack::kDecoder: return "decoder";
    case Stack::kCross: return "cross";
  }
  return "?";
}

std::string to_string(const LayerId& id) {
  if (id.stack == Stack::kEncoder) return std::to_string(id.index);
  return std::string(to_string(id.stack)) + " " + std::to_string(id.index);
}

Taps& Taps::record(unsigned what, const std::set<LayerId>& layers) {
  if (layers.empty()) {
    record_all_layers_ |= what;
  } else {
    for (const auto& l : layers) record_per_layer_[l] |= what;
  }
  return *this;
}

Taps& Taps::inject_probs(const LayerId& layer, torch::Tensor probs) {
  inject_probs_[layer] = std::move(probs);
  return *this;
}

Taps& Taps::inject_logits(const LayerId& layer, torch::Tensor logits, std::vector<int64_t> heads) {
  inject_logits_[layer] = std::move(logits);
  inject_heads_[layer] = std::move(heads);
  return *this;
}

Taps& Taps::inject_projection(const LayerId& layer, Projection which, torch::Tensor value) {
  inject_projection_[{layer, static_cast<int>(which)}] = std::move(value);
  return *this;
}

const std::vector<int64_t>& Taps::injected_heads(const LayerId& layer) const {
  static const std::vector<int64_t> kAll;
  auto it = inject_heads_.find(layer);
  return it == inject_heads_.end() ? kAll : it->second;
}

const torch::Tensor* Taps::injected_projection(const LayerId& layer, Projection which) const {
  auto it = inject_projection_.find({layer, static_cast<int>(which)});
  return it == inject_projection_.end() ? nullptr : &it->second;
}

bool Taps::wants(const LayerId& layer, Record what) const {
  if (record_all_layers_ & what) return true;
  auto it = record_per_layer_.find(layer);
  return it != record_per_layer_.end() && (it->second & what);
}

const torch::Tensor* Taps::injected_probs(const LayerId& layer) const {
  auto it = inject_probs_.find(layer);
  return it == inject_probs_.end() ? nullptr : &it->second;
}

const torch::Tensor* Taps::injected_logits(const LayerId& layer) const {
  auto it = inject_logits_.find(layer);
  return it == inject_logits_.end() ? nullptr : &it->second;
}

const LayerCapture& Taps::at(const LayerId& layer) const {
  auto it = captures_.find(layer);
  ATTND_CHECK(it != captures_.end(), "nothing was recorded for layer ", to_string(layer),
              " (was it requested with Taps::record, and does the model have that layer?)");
  return it->second;
}

}  // namespace attnd
