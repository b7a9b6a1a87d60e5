#include "attnd/models/hf_architecture.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "attnd/core/strings.h"
#include "attnd/models/model.h"

namespace attnd {

namespace {

struct Names {
  const std::vector<std::string>& all;
  bool any_contains(const std::string& part) const {
    return std::any_of(all.begin(), all.end(),
                       [&](const std::string& n) { return n.find(part) != std::string::npos; });
  }
  bool any_starts(const std::string& prefix) const {
    return std::any_of(all.begin(), all.end(),
                       [&](const std::string& n) { return starts_with(n, prefix); });
  }
};

// The family of a file without config.json, from names only HF's layouts of that family use.
std::string infer_model_type(const Names& n) {
  if (n.any_contains("embeddings.word_embeddings.")) return "bert";
  if (n.any_contains("wte.weight") || n.any_contains("attn.c_attn.")) return "gpt2";
  if (n.any_contains("embeddings.patch_embeddings.") && n.any_starts("decoder."))
    return "vit_mae";
  if (n.any_contains("embeddings.patch_embeddings.")) return "vit";
  return "";
}

// Name and note from the tensors of a family attnd maps to HF classes.
void name_by_tensors(const Names& n, HfArchitecture& a) {
  const bool no_tensors = n.all.empty();
  if (a.model_type == "bert") {
    if (n.any_starts("classifier.")) {
      a.name = "BertForSequenceClassification";
      a.loadable = true;
    } else if (n.any_starts("cls.predictions.") && n.any_starts("cls.seq_relationship.")) {
      a.name = "BertForPreTraining";
    } else if (n.any_starts("cls.predictions.")) {
      a.name = "BertForMaskedLM";
    } else {
      a.name = "BertModel";
    }
    if (!a.loadable)
      a.note = "no sequence-classification head: attnd's bert is BertForSequenceClassification "
               "(load_model names the missing classifier.*; fine-tune from it with a fresh head)";
  } else if (a.model_type == "gpt2") {
    // The LM head is tied to wte, so a GPT2Model file holds every weight GPT2LMHeadModel has.
    // The hub's "gpt2" file is GPT2LMHeadModel's without prefix and without the tied head.
    const bool lm = n.any_starts("transformer.") || n.any_starts("lm_head.") ||
                    a.declared == "GPT2LMHeadModel";
    a.name = lm ? "GPT2LMHeadModel" : "GPT2Model";
    a.loadable = true;
    if (!lm) a.note = "loaded as GPT2LMHeadModel (its head is tied to wte.weight)";
  } else if (a.model_type == "vit") {
    a.loadable = n.any_starts("classifier.");
    a.name = a.loadable ? "ViTForImageClassification" : "ViTModel";
    if (!a.loadable)
      a.note = "no classification head: attnd's vit is ViTForImageClassification (load_model "
               "names the missing classifier.*)";
  } else if (a.model_type == "vit_mae") {
    a.name = "ViTMAEForPreTraining";
    a.loadable = true;
  } else {
    a.loadable = !a.model_type.empty();
  }
  if (no_tensors) {  // config only: the declared class, when there is one
    a.name = a.declared;
    a.loadable = false;
    a.note = "no model.safetensors (nor a sharded index): nothing to load";
  }
}

}  // namespace

HfArchitecture hf_architecture(const nlohmann::json& config,
                               const std::vector<std::string>& tensor_names) {
  HfArchitecture a;
  const Names names{tensor_names};
  if (config.is_object()) {
    const auto type = config.find("model_type");
    if (type != config.end() && type->is_string()) a.model_type = type->get<std::string>();
    const auto declared = config.find("architectures");
    if (declared != config.end() && declared->is_array() && !declared->empty() &&
        declared->front().is_string())
      a.declared = declared->front().get<std::string>();
  }
  if (a.model_type.empty()) a.model_type = infer_model_type(names);
  const auto known = registered_model_types();
  if (a.model_type.empty() || std::find(known.begin(), known.end(), a.model_type) == known.end()) {
    a.name = a.declared;
    a.note = a.model_type.empty()
                 ? "not a model family attnd recognises (no model_type, unknown tensor names)"
                 : "model_type '" + a.model_type + "' is not one attnd implements";
    return a;
  }
  name_by_tensors(names, a);
  if (!config.is_object()) {
    a.loadable = false;
    a.note = "no config.json beside the weights: load_model needs one";
  } else if (!a.declared.empty() && a.declared != a.name && !a.name.empty()) {
    a.note += std::string(a.note.empty() ? "" : "; ") + "config.json declares " + a.declared +
              ", the tensors are " + a.name + "'s";
  }
  return a;
}

}  // namespace attnd
