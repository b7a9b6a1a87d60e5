#include "attnd/nn/linear_mixer.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attnd/core/error.h"
#include "attnd/core/suggest.h"

namespace attnd {
namespace {

const std::vector<std::string> kFeatureMapKeys = {
    "kind", "feature_map", "num_heads", "head_dim", "feature_dim", "performer_features",
    "exp_t", "seed", "eps"};

nlohmann::json feature_map_spec(const std::string& kind, const FeatureMapOptions& f, double eps) {
  return {{"kind", kind},
          {"feature_map", f.kind},
          {"num_heads", f.num_heads},
          {"head_dim", f.head_dim},
          {"feature_dim", f.feature_dim},
          {"performer_features", f.performer_features},
          {"exp_t", f.exp_t},
          {"seed", f.seed},
          {"eps", eps}};
}

template <typename T>
T read(const nlohmann::json& spec, const char* key, T fallback) {
  if (!spec.contains(key)) return fallback;
  try {
    return spec.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw_input_error("mixer spec: '", key, "' has the wrong type: ", spec.at(key).dump());
  }
}

// Checks the keys, then reads the feature map part every feature-map mixer shares.
FeatureMapOptions read_feature_map(const nlohmann::json& spec, std::vector<std::string> known) {
  ATTND_CHECK_INPUT(spec.is_object(), "mixer spec must be a JSON object, got ", spec.dump());
  known.insert(known.end(), kFeatureMapKeys.begin(), kFeatureMapKeys.end());
  std::vector<std::string> present;
  for (const auto& item : spec.items()) present.push_back(item.key());
  check_known_keys(present, known, "mixer spec");
  ATTND_CHECK_INPUT(spec.contains("num_heads") && spec.contains("head_dim"), "mixer '",
                    read<std::string>(spec, "kind", "?"),
                    "' needs num_heads and head_dim in its spec, got ", spec.dump());
  FeatureMapOptions f;
  f.kind = read(spec, "feature_map", f.kind);
  f.num_heads = read(spec, "num_heads", f.num_heads);
  f.head_dim = read(spec, "head_dim", f.head_dim);
  f.feature_dim = read(spec, "feature_dim", f.feature_dim);
  f.performer_features = read(spec, "performer_features", f.performer_features);
  f.exp_t = read(spec, "exp_t", f.exp_t);
  f.seed = read(spec, "seed", f.seed);
  return f;
}

// Positions for maps that use them (cosformer): the queries end where the keys end.
int64_t query_offset(const torch::Tensor& q, const torch::Tensor& k) {
  return std::max<int64_t>(0, k.size(2) - q.size(2));
}
int64_t sequence_length(const torch::Tensor& q, const torch::Tensor& k) {
  return std::max(q.size(2), k.size(2));
}

}  // namespace

LinearMixerOptions linear_mixer_options(const nlohmann::json& spec) {
  LinearMixerOptions o;
  o.feature_map = read_feature_map(spec, {"chunk"});
  o.chunk = read(spec, "chunk", o.chunk);
  o.eps = read(spec, "eps", o.eps);
  return o;
}

HybridMixerOptions hybrid_mixer_options(const nlohmann::json& spec) {
  HybridMixerOptions o;
  o.feature_map = read_feature_map(
      spec, {"window", "init_window_factor", "affine_attention_factors", "gamma_init"});
  o.window = read(spec, "window", o.window);
  o.init_window_factor = read(spec, "init_window_factor", o.init_window_factor);
  o.affine_attention_factors = read(spec, "affine_attention_factors", o.affine_attention_factors);
  o.eps = read(spec, "eps", o.eps);
  if (spec.contains("gamma_init")) {
    // A spec from before the LoLCATs form: γ on the linear part, 1 on the window, is the affine
    // form with e^{−θ} = γ (upgrade_hybrid_tensors converts the trained values the same way).
    ATTND_CHECK_INPUT(!spec.contains("init_window_factor") && !spec.contains("affine_attention_factors"),
                      "mixer spec: give gamma_init (the old form) or init_window_factor / "
                      "affine_attention_factors, not both: ", spec.dump());
    const double g = read(spec, "gamma_init", 0.1);
    ATTND_CHECK_INPUT(g > 0 && g < 1, "hybrid mixer: gamma_init must be in (0, 1), got ", g);
    o.affine_attention_factors = true;
    o.init_window_factor = -std::log(g);
  }
  return o;
}

TensorMap upgrade_hybrid_tensors(TensorMap tensors) {
  const std::string old_name = "mixer.gamma_logit";
  TensorMap out;
  for (auto& [name, t] : tensors) {
    if (t.is_floating_point() && name.size() >= old_name.size() &&
        name.compare(name.size() - old_name.size(), old_name.size(), old_name) == 0) {
      const auto prefix = name.substr(0, name.size() - old_name.size());
      // −log σ(g) = softplus(−g), computed without overflow for large |g|.
      out[prefix + "mixer.window_factors"] = torch::softplus(-t);
    } else {
      out[name] = t;
    }
  }
  return out;
}

LinearMixerImpl::LinearMixerImpl(const LinearMixerOptions& options) : options_(options) {
  ATTND_CHECK_INPUT(options.chunk > 0, "linear mixer: chunk must be > 0, got ", options.chunk);
  ATTND_CHECK_INPUT(options.eps >= 0, "linear mixer: eps must be >= 0, got ", options.eps);
  q_map = register_module("q_map", make_feature_map(options.feature_map));
  k_map = register_module("k_map", make_feature_map(options.feature_map));
}

nlohmann::json LinearMixerImpl::spec() const {
  auto s = feature_map_spec(kind(), options_.feature_map, options_.eps);
  s["chunk"] = options_.chunk;
  return s;
}

std::pair<torch::Tensor, torch::Tensor> LinearMixerImpl::features(const torch::Tensor& q,
                                                                  const torch::Tensor& k,
                                                                  const AttentionMask&) {
  const int64_t len = sequence_length(q, k);
  return {q_map->forward(q, query_offset(q, k), len), k_map->forward(k, 0, len)};
}

torch::Tensor LinearMixerImpl::forward(const torch::Tensor& q, const torch::Tensor& k,
                                       const torch::Tensor& v, const AttentionMask& mask,
                                       const MixerTap& tap) {
  auto [fq, fk] = features(q, k, mask);
  const double eps = options_.eps;
  if (tap.capture && tap.want_probs) {
    auto probs = linear_attention_weights(fq, fk, mask, eps);
    tap.capture->probs = probs;
    return torch::matmul(probs, v);
  }
  if (!mask.causal) return linear_attention_noncausal(fq, fk, v, mask, eps);
  if (q.size(2) == k.size(2))
    return linear_attention_causal_chunked(fq, fk, v, mask.key_padding, options_.chunk, eps);
  return linear_attention_quadratic(fq, fk, v, mask, eps);  // queries at the end of the keys
}

HybridMixerImpl::HybridMixerImpl(const HybridMixerOptions& options) : options_(options) {
  ATTND_CHECK_INPUT(options.window > 0, "hybrid mixer: window must be > 0, got ", options.window);
  ATTND_CHECK_INPUT(std::isfinite(options.init_window_factor),
                    "hybrid mixer: init_window_factor must be finite, got ", options.init_window_factor);
  ATTND_CHECK_INPUT(options.eps >= 0, "hybrid mixer: eps must be >= 0, got ", options.eps);
  q_map = register_module("q_map", make_feature_map(options.feature_map));
  k_map = register_module("k_map", make_feature_map(options.feature_map));
  window_factors = register_parameter(
      "window_factors", torch::full({options.feature_map.num_heads}, options.init_window_factor));
}

nlohmann::json HybridMixerImpl::spec() const {
  auto s = feature_map_spec(kind(), options_.feature_map, options_.eps);
  s["window"] = options_.window;
  s["init_window_factor"] = options_.init_window_factor;
  s["affine_attention_factors"] = options_.affine_attention_factors;
  return s;
}

torch::Tensor HybridMixerImpl::linear_factor() const {
  return options_.affine_attention_factors ? 1 - window_factor() : torch::ones_like(window_factors);
}

torch::Tensor HybridMixerImpl::weights(const torch::Tensor& q, const torch::Tensor& k,
                                       const AttentionMask& mask) {
  const int64_t nq = q.size(2), nk = k.size(2), w = options_.window;
  auto lopts = torch::TensorOptions().dtype(torch::kLong).device(q.device());
  // Distance from query to key, queries sitting at the end of the keys (as AttentionMask).
  auto dist = torch::arange(nk - nq, nk, lopts).unsqueeze(1) - torch::arange(0, nk, lopts);
  auto far = mask.causal ? dist : dist.abs();
  auto in_window = far.lt(w).logical_and(far.ge(0)).view({1, 1, nq, nk});
  auto in_linear = far.ge(w).view({1, 1, nq, nk});
  auto allowed = mask.allowed(nq, nk, q.device());
  if (allowed.defined()) {
    in_window = in_window.logical_and(allowed);
    in_linear = in_linear.logical_and(allowed);
  }

  // The lowest finite value, not −inf: a row without window keys stays finite (and is zeroed).
  const double lowest = q.scalar_type() == torch::kDouble ? std::numeric_limits<double>::lowest()
                                                          : std::numeric_limits<float>::lowest();
  auto s = scaled_logits(q, k).masked_fill(in_window.logical_not(), lowest);
  auto a_sm = torch::exp(s - s.amax(-1, true)) * in_window.to(s.scalar_type());
  const auto wf = window_factor().to(s.scalar_type()).view({1, -1, 1, 1});
  const auto lf = linear_factor().to(s.scalar_type()).view({1, -1, 1, 1});

  const int64_t len = sequence_length(q, k);
  auto fq = q_map->forward(q, query_offset(q, k), len), fk = k_map->forward(k, 0, len);
  auto lin = torch::matmul(fq, fk.transpose(-1, -2)) * in_linear.to(fq.scalar_type());
  auto a = wf * a_sm + lf * lin;
  return a / (a.sum(-1, true) + options_.eps);
}

torch::Tensor HybridMixerImpl::forward(const torch::Tensor& q, const torch::Tensor& k,
                                       const torch::Tensor& v, const AttentionMask& mask,
                                       const MixerTap& tap) {
  auto probs = weights(q, k, mask);
  if (tap.capture && tap.want_probs) tap.capture->probs = probs;
  return torch::matmul(probs, v);
}

}  // namespace attnd
