#include "attnd/nn/lora.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "attnd/core/error.h"
#include "attnd/core/strings.h"

namespace attnd {

namespace {

const std::vector<std::string>& all_targets() {
  static const std::vector<std::string> names = {"q", "k", "v", "o"};
  return names;
}

int target_index(const std::string& name) {
  const auto& all = all_targets();
  auto it = std::find(all.begin(), all.end(), name);
  if (it == all.end())
    throw_input_error("unknown LoRA target '", name,
                      "' (allowed: q, k, v, o, comma-separated, or all)");
  return static_cast<int>(it - all.begin());
}

// Known, non-empty targets → canonical order q, k, v, o without repeats.
std::vector<std::string> canonical_targets(const std::vector<std::string>& targets) {
  ATTND_CHECK_INPUT(!targets.empty(), "no LoRA targets given (allowed: q, k, v, o, or all)");
  std::set<int> seen;
  for (const auto& t : targets) seen.insert(target_index(t));
  std::vector<std::string> out;
  for (int i : seen) out.push_back(all_targets()[i]);
  return out;
}

}  // namespace

std::vector<std::string> parse_lora_targets(const std::string& list) {
  std::vector<std::string> names;
  for (const auto& piece : split(list, ',')) {
    const std::string item = to_lower(trim(piece));
    if (item.empty()) continue;
    if (item == "all") {
      names.insert(names.end(), all_targets().begin(), all_targets().end());
    } else {
      names.push_back(item);
    }
  }
  return canonical_targets(names);
}

void check_lora_options(const LoraOptions& o) {
  ATTND_CHECK_INPUT(o.rank >= 1, "LoRA rank must be at least 1, got ", o.rank);
  ATTND_CHECK_INPUT(o.alpha > 0 && std::isfinite(o.alpha), "LoRA alpha must be positive, got ",
                    o.alpha);
  ATTND_CHECK_INPUT(o.dropout >= 0 && o.dropout < 1, "LoRA dropout must be in [0, 1), got ",
                    o.dropout);
  canonical_targets(o.targets);
}

LoraOptions lora_options_from_json(const nlohmann::json& j) {
  ATTND_CHECK_INPUT(j.is_object(), "LoRA options must be an object {rank, alpha, targets, "
                    "dropout}, got ", j.type_name());
  for (auto it = j.begin(); it != j.end(); ++it)
    ATTND_CHECK_INPUT(it.key() == "rank" || it.key() == "alpha" || it.key() == "targets" ||
                          it.key() == "dropout" || it.key() == "layers",
                      "unknown LoRA option '", it.key(),
                      "' (expected rank, alpha, targets, dropout, layers)");
  LoraOptions o;
  if (j.contains("rank")) {
    ATTND_CHECK_INPUT(j["rank"].is_number_integer(), "LoRA rank must be an integer, got ",
                      j["rank"].dump());
    o.rank = j["rank"].get<int64_t>();
  }
  if (j.contains("alpha")) {
    ATTND_CHECK_INPUT(j["alpha"].is_number(), "LoRA alpha must be a number, got ",
                      j["alpha"].dump());
    o.alpha = j["alpha"].get<double>();
  }
  if (j.contains("dropout")) {
    ATTND_CHECK_INPUT(j["dropout"].is_number(), "LoRA dropout must be a number, got ",
                      j["dropout"].dump());
    o.dropout = j["dropout"].get<double>();
  }
  if (j.contains("targets")) {
    const auto& t = j["targets"];
    if (t.is_string()) {
      o.targets = parse_lora_targets(t.get<std::string>());
    } else {
      ATTND_CHECK_INPUT(t.is_array(), "LoRA targets must be a list of q/k/v/o or a string such "
                        "as \"q,v\" or \"all\", got ", t.dump());
      std::string joined;
      for (const auto& e : t) {
        ATTND_CHECK_INPUT(e.is_string(), "LoRA targets must be strings, got ", e.dump());
        joined += e.get<std::string>() + ",";
      }
      o.targets = parse_lora_targets(joined);
    }
  }
  check_lora_options(o);
  return o;
}

nlohmann::json to_json(const LoraOptions& o) {
  return {{"rank", o.rank}, {"alpha", o.alpha}, {"targets", o.targets}, {"dropout", o.dropout}};
}

// ---- modules --------------------------------------------------------------------------------------

LoraAdapterImpl::LoraAdapterImpl(int64_t in, int64_t out, const LoraOptions& o,
                                 const torch::TensorOptions& t)
    : scale(o.scale()) {
  torch::NoGradGuard no_grad;
  auto a = torch::empty({o.rank, in}, t);
  torch::nn::init::kaiming_uniform_(a, std::sqrt(5.0));  // fan_in = in: U(±1/√in), as PEFT
  A = register_parameter("A", a);
  B = register_parameter("B", torch::zeros({out, o.rank}, t));
  if (o.dropout > 0) dropout = register_module("dropout", torch::nn::Dropout(o.dropout));
}

torch::Tensor LoraAdapterImpl::forward(const torch::Tensor& x) {
  auto in = dropout ? dropout(x) : x;
  return torch::matmul(torch::matmul(in, A.t()), B.t()) * scale;
}

torch::Tensor LoraAdapterImpl::delta_weight() const { return torch::matmul(B, A) * scale; }

LoraAdaptersImpl::LoraAdaptersImpl(int64_t dim, const LoraOptions& o,
                                   const torch::TensorOptions& t)
    : options(o), adapters_(all_targets().size(), LoraAdapter(nullptr)) {
  options.targets = canonical_targets(o.targets);
  for (const auto& name : options.targets)
    adapters_[target_index(name)] = register_module(name, LoraAdapter(dim, dim, o, t));
}

}  // namespace attnd
