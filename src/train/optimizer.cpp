#include "attnd/train/optimizer.h"

#include <map>
#include <set>

#include <torch/torch.h>

#include "attnd/core/error.h"
#include "attnd/core/torch_compat.h"

namespace attnd {

NamedAdamW::NamedAdamW(const TensorMap& params, const AdamWConfig& config) {
  // Groups by (lr factor, decay): biases and norms (1-D) never decay.
  std::map<std::pair<double, bool>, std::vector<torch::Tensor>> groups_by;
  for (const auto& [name, p] : params) {
    if (!p.requires_grad()) continue;
    names_.push_back(name);
    params_.push_back(p);
    double factor = 1.0;
    for (const auto& [prefix, f] : config.lr_factors)
      if (name.rfind(prefix, 0) == 0) {
        factor = f;
        break;
      }
    groups_by[{factor, p.dim() >= 2}].push_back(p);
  }
  ATTND_CHECK_INPUT(!params_.empty(), "nothing to train: every parameter is frozen");
  auto options = torch::optim::AdamWOptions(config.lr)
                     .betas({config.beta1, config.beta2})
                     .eps(config.eps)
                     .weight_decay(config.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  // Decayed groups first, as before groups had factors (the same order for one factor).
  for (bool decay : {true, false})
    for (auto& [key, tensors] : groups_by) {
      if (key.second != decay) continue;
      auto o = options;
      o.lr(config.lr * key.first);
      if (!decay) o.weight_decay(0.0);
      groups.emplace_back(tensors, std::make_unique<torch::optim::AdamWOptions>(o));
      group_factors_.push_back(key.first);
    }
  optimizer_ = std::make_unique<torch::optim::AdamW>(groups, options);
}

void NamedAdamW::set_lr(double lr) {
  auto& groups = optimizer_->param_groups();
  for (size_t i = 0; i < groups.size(); ++i)
    static_cast<torch::optim::AdamWOptions&>(groups[i].options()).lr(lr * group_factors_[i]);
}

void NamedAdamW::zero_grad() { optimizer_->zero_grad(); }
void NamedAdamW::step() { optimizer_->step(); }

TensorMap NamedAdamW::state() const {
  TensorMap out;
  auto& states = optimizer_->state();
  for (size_t i = 0; i < params_.size(); ++i) {
    auto it = states.find(compat::optimizer_state_key(states, params_[i].unsafeGetTensorImpl()));
    if (it == states.end()) continue;
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    out[names_[i] + ".exp_avg"] = s.exp_avg();
    out[names_[i] + ".exp_avg_sq"] = s.exp_avg_sq();
    out[names_[i] + ".step"] = torch::tensor(static_cast<int64_t>(s.step()), torch::kLong);
  }
  return out;
}

void NamedAdamW::load_state(const TensorMap& state, const std::string& source) {
  // Every entry must belong to a parameter of this model: a file from another model or with
  // renamed keys would otherwise restore nothing for those parameters, silently.
  std::set<std::string> expected;
  for (const auto& name : names_)
    for (const char* field : {".exp_avg", ".exp_avg_sq", ".step"}) expected.insert(name + field);
  for (const auto& kv : state) {
    const auto& key = kv.first;
    ATTND_CHECK_INPUT(expected.count(key), source, ": optimizer state '", key,
                      "' belongs to no trainable parameter of this model (expected "
                      "'<parameter>.exp_avg', '.exp_avg_sq' or '.step')");
  }
  auto& states = optimizer_->state();
  states.clear();
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& name = names_[i];
    auto avg = state.find(name + ".exp_avg");
    if (avg == state.end()) continue;  // a parameter that had no step yet
    auto sq = state.find(name + ".exp_avg_sq");
    auto step = state.find(name + ".step");
    ATTND_CHECK_INPUT(sq != state.end() && step != state.end(), source,
                      ": optimizer state for '", name, "' is incomplete");
    for (const auto* entry : {&*avg, &*sq})  // a smaller exp_avg_sq would broadcast silently
      ATTND_CHECK_INPUT(entry->second.sizes() == params_[i].sizes(), source, ": optimizer state '",
                        entry->first, "' has shape ", entry->second.sizes(), ", expected ",
                        params_[i].sizes());
    const auto& count = step->second;
    ATTND_CHECK_INPUT(count.numel() == 1 && !count.is_floating_point() && !count.is_complex() &&
                          count.item<int64_t>() >= 0,
                      source, ": optimizer state '", step->first,
                      "' must be one non-negative integer (the step count), got a ",
                      count.scalar_type(), " tensor of shape ", count.sizes());
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    auto opts = params_[i].options().requires_grad(false);
    s->exp_avg(avg->second.to(opts).clone());
    s->exp_avg_sq(sq->second.to(opts).clone());
    s->step(count.item<int64_t>());
    states[compat::optimizer_state_key(states, params_[i].unsafeGetTensorImpl())] = std::move(s);
  }
}

}  // namespace attnd
