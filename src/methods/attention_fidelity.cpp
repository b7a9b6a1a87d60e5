#include "attnd/methods/attention_fidelity.h"

#include <torch/torch.h>

#include <iomanip>
#include <limits>
#include <map>
#include <sstream>

#include "attnd/core/error.h"
#include "attnd/data/sampler.h"
#include "attnd/methods/linearize_surgery.h"
#include "attnd/nn/taps.h"

namespace attnd {

torch::Tensor rowwise_spearman(const torch::Tensor& x_in, const torch::Tensor& y_in,
                               const torch::Tensor& allowed_in) {
  auto x = x_in.to(torch::kDouble), y = y_in.to(torch::kDouble);
  auto allowed = allowed_in.defined() ? allowed_in.expand_as(x) : torch::ones_like(x, torch::kBool);
  const double inf = std::numeric_limits<double>::infinity();
  // Disallowed entries sort last, so the allowed ones get ranks 0..m−1 among themselves.
  auto rank = [&](const torch::Tensor& t) {
    return t.masked_fill(allowed.logical_not(), inf).argsort(int64_t{-1}).argsort(int64_t{-1}).to(torch::kDouble);
  };
  auto w = allowed.to(torch::kDouble);
  auto n = w.sum(-1, true);
  auto rx = rank(x), ry = rank(y);
  auto mx = (rx * w).sum(-1, true) / n.clamp_min(1);
  auto my = (ry * w).sum(-1, true) / n.clamp_min(1);
  auto dx = (rx - mx) * w;
  auto dy = (ry - my) * w;
  auto cov = (dx * dy).sum(-1);
  auto var = (dx * dx).sum(-1) * (dy * dy).sum(-1);
  auto valid = var > 0;
  auto rho = cov / var.clamp_min(1e-300).sqrt();
  return rho.masked_select(valid).mean();
}

std::vector<LayerFidelity> attention_fidelity(ModelImpl& teacher, ModelImpl& student,
                                              const Dataset& data, int64_t batch_size,
                                              const torch::Device& device, int64_t max_examples) {
  const auto layers = linearized_layers(student);
  ATTND_CHECK_INPUT(data.size() > 0, "attention fidelity: the dataset is empty");
  torch::NoGradGuard no_grad;
  teacher.eval();
  student.eval();
  std::map<int64_t, LayerFidelity> sums;
  double seen = 0;
  const int64_t n = std::min(data.size(), max_examples);
  for (const auto& idx : eval_batches(n, batch_size)) {
    auto batch = data.get(idx, 0).to(device);
    Taps taps;
    taps.record(kRecordQueries | kRecordKeys | kRecordProbs | kRecordLogits,
                {layers.begin(), layers.end()});
    teacher.forward(batch.input, &taps);
    const auto mask = mask_of(student, batch);
    for (auto l : layers) {
      const auto& t = taps.at(l);
      auto a = t.probs.to(torch::kDouble);
      auto s = student_attention_weights(student, l, t.queries, t.keys, mask).to(torch::kDouble);
      auto allowed = mask.allowed(a.size(2), a.size(3), a.device());
      auto log_s = torch::log(s.clamp_min(1e-12)), log_a = torch::log(a.clamp_min(1e-12));
      const double ce = -(a * log_s).sum(-1).mean().item<double>();
      const double h_t = -(a * log_a).sum(-1).mean().item<double>();
      const double h_s = -(s * log_s).sum(-1).mean().item<double>();
      const double rho = rowwise_spearman(t.logits, s, allowed).item<double>();
      auto& f = sums[l];
      const double b = static_cast<double>(idx.size());
      f.layer = l;
      f.ce += ce * b;
      f.kl += (ce - h_t) * b;
      f.entropy_teacher += h_t * b;
      f.entropy_student += h_s * b;
      f.spearman += rho * b;
    }
    seen += static_cast<double>(idx.size());
  }
  std::vector<LayerFidelity> out;
  for (auto& [l, f] : sums) {
    f.ce /= seen;
    f.kl /= seen;
    f.entropy_teacher /= seen;
    f.entropy_student /= seen;
    f.spearman /= seen;
    out.push_back(f);
  }
  return out;
}

std::string fidelity_table(const std::vector<LayerFidelity>& fidelity) {
  std::ostringstream out;
  out << "| layer | CE | KL | entropy teacher | entropy student | Spearman ρ |\n|---|---|---|---|---|---|\n";
  out << std::fixed << std::setprecision(4);
  for (const auto& f : fidelity)
    out << "| " << f.layer << " | " << f.ce << " | " << f.kl << " | " << f.entropy_teacher << " | "
        << f.entropy_student << " | " << f.spearman << " |\n";
  return out.str();
}

nlohmann::json fidelity_json(const std::vector<LayerFidelity>& fidelity) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& f : fidelity)
    out.push_back({{"layer", f.layer}, {"ce", f.ce}, {"kl", f.kl},
                   {"entropy_teacher", f.entropy_teacher}, {"entropy_student", f.entropy_student},
                   {"spearman", f.spearman}});
  return out;
}

}  // namespace attnd
