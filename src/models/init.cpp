#include "attnd/models/init.h"

#include <torch/torch.h>

#include <cmath>
#include <functional>

#include "attnd/core/strings.h"

namespace attnd {

void trunc_normal_(torch::Tensor t, double mean, double std, double a, double b) {
  torch::NoGradGuard no_grad;
  // Inverse-CDF sampling, as torch.nn.init.trunc_normal_: uniform on [cdf(a), cdf(b)], then the
  // normal quantile. Computed in float32 at least (there is no erfinv for half on CPU).
  auto norm_cdf = [](double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; };
  const double lo = norm_cdf((a - mean) / std), hi = norm_cdf((b - mean) / std);
  auto work = t.scalar_type() == torch::kDouble ? torch::empty_like(t)
                                                : torch::empty_like(t, t.options().dtype(torch::kFloat));
  work.uniform_(2 * lo - 1, 2 * hi - 1);
  work.erfinv_();
  work.mul_(std * std::sqrt(2.0));
  work.add_(mean);
  work.clamp_(a, b);
  t.copy_(work);
}

namespace {
bool under_mixer(const std::string& name) {
  return name == "mixer" || starts_with(name, "mixer.") || name.find(".mixer.") != std::string::npos ||
         ends_with(name, ".mixer");
}
}  // namespace

void init_weights(torch::nn::Module& module, const InitOptions& options) {
  torch::NoGradGuard no_grad;
  const double range = options.initializer_range;
  auto init_matrix = [&](torch::Tensor& w, double std) {
    if (options.truncated) {
      trunc_normal_(w, 0.0, std);
    } else {
      w.normal_(0.0, std);
    }
  };
  // include_self=false: constructors call this before the model sits in a shared_ptr.
  auto visit = [&](const std::string& name, torch::nn::Module& m) {
    if (under_mixer(name)) return;
    if (auto* linear = m.as<torch::nn::LinearImpl>()) {
      double std = range;
      if (options.scaled_c_proj_layers > 0 && ends_with(name, "c_proj")) {
        std = range / std::sqrt(2.0 * static_cast<double>(options.scaled_c_proj_layers));
      }
      init_matrix(linear->weight, std);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* conv = m.as<torch::nn::Conv2dImpl>()) {
      init_matrix(conv->weight, range);
      if (conv->bias.defined()) conv->bias.zero_();
    } else if (auto* ln = m.as<torch::nn::LayerNormImpl>()) {
      if (ln->weight.defined()) ln->weight.fill_(1.0);
      if (ln->bias.defined()) ln->bias.zero_();
    } else if (auto* emb = m.as<torch::nn::EmbeddingImpl>()) {
      emb->weight.normal_(0.0, range);
      if (auto pad = emb->options.padding_idx()) emb->weight[*pad].zero_();
    }
  };
  // Walk the tree by hand: named_modules() needs the root held by a shared_ptr, which it is not
  // yet while a model's constructor runs.
  std::function<void(const std::string&, torch::nn::Module&)> walk =
      [&](const std::string& prefix, torch::nn::Module& m) {
        visit(prefix, m);
        for (const auto& child : m.named_children())
          walk(prefix.empty() ? child.key() : prefix + "." + child.key(), *child.value());
      };
  walk("", module);
}

}  // namespace attnd
