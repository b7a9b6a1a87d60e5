// LoRA on a whole model, layer by layer through ModelImpl::attention(l): adding, persisting,
// freezing around and merging the adapters that nn/lora.h defines and nn/attention.h holds.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

#include "attnd/models/model.h"
#include "attnd/nn/lora.h"

namespace attnd {

// Adds adapters to `layers` (empty = every layer); returns the number of adapter parameters
// (elements) added. InputError for bad options, a bad or repeated layer, or a model that already
// has adapters. The new adapters are in the model's training mode, dtype and device.
int64_t add_lora(ModelImpl& model, const LoraOptions& options,
                 const std::vector<int64_t>& layers = {});
bool has_lora(ModelImpl& model);
std::vector<int64_t> lora_layers(ModelImpl& model);
// The options the adapters were added with; InputError if the model has none.
LoraOptions lora_options(ModelImpl& model);
// What config_json writes under "attnd.lora": to_json(options) + "layers"; null without adapters.
nlohmann::json lora_config(ModelImpl& model);
// Re-adds the adapters a config names under "attnd.lora" (create_model calls it, after the
// mixers); no-op without that key. InputError (prefixed "attnd.lora") for a bad entry.
void apply_lora(ModelImpl& model, const nlohmann::json& config);

// requires_grad = true on the adapters (and, when also_mixers, on parameters under a child named
// "mixer": the learned feature maps of linear attention), false on everything else. Returns the
// number of trainable elements.
int64_t freeze_all_but_lora(ModelImpl& model, bool also_mixers);

// W += scale · B A for every adapter (into its third of c_attn for GPT-2's q/k/v; into
// output.dense / c_proj for o), then removes the adapters: parameter names and config_json are
// those of an un-adapted model again. No-op without adapters. An optimizer holding the adapter
// parameters must not be stepped afterwards; to save a merged copy mid-training, merge a copy
// (create_model(config_json()) + load_state(state())).
void merge_lora(ModelImpl& model);

}  // namespace attnd
