#include "attnd/nn/feature_map.h"

#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <sstream>
#include <utility>

#include "attnd/core/error.h"

namespace attnd {
namespace {

constexpr double kClampMin = 1e-12;  // LoLCATs' floor: keeps log(â) finite in distillation
const double kPi = std::acos(-1.0);

// z = x W (+ b), W: [H, Dh, Df] identity-initialised (rectangular when Df != Dh), b: [H, Df] zero.
class LearnedMap : public FeatureMapImpl {
 public:
  LearnedMap(FeatureMapOptions options, int64_t default_df, bool with_bias)
      : FeatureMapImpl(std::move(options)) {
    const auto& o = options_;
    df_ = o.feature_dim > 0 ? o.feature_dim : default_df;
    ATTND_CHECK_INPUT(df_ > 0, "feature map '", o.kind, "' needs feature_dim > 0 (head_dim ",
                      o.head_dim, ")");
    auto eye = torch::eye(o.head_dim, df_, torch::kFloat);
    weight = register_parameter("weight", eye.unsqueeze(0).repeat({o.num_heads, 1, 1}));
    if (with_bias) bias = register_parameter("bias", torch::zeros({o.num_heads, df_}));
  }

  torch::Tensor weight, bias;

 protected:
  int64_t df_;
  // [B, H, N, Dh] @ [H, Dh, Df] broadcasts over B: one batched matmul per head.
  torch::Tensor project(const torch::Tensor& x) const {
    auto z = torch::matmul(x, weight);
    return bias.defined() ? z + bias.view({1, bias.size(0), 1, df_}) : z;
  }
};

class SoftmaxSplitMap : public LearnedMap {
 public:
  explicit SoftmaxSplitMap(FeatureMapOptions o) : LearnedMap(o, o.head_dim / 2, false) {}
  int64_t output_dim() const override { return 2 * df_; }
  bool positive() const override { return true; }

 protected:
  torch::Tensor map(const torch::Tensor& x, int64_t, int64_t) override {
    auto z = project(x);
    return torch::cat({torch::softmax(z, -1), torch::softmax(-z, -1)}, -1).clamp_min(kClampMin);
  }
};

class ExpMap : public LearnedMap {
 public:
  explicit ExpMap(FeatureMapOptions o) : LearnedMap(o, o.head_dim, true) {}
  int64_t output_dim() const override { return 2 * df_; }
  bool positive() const override { return true; }

 protected:
  // No per-row max: on the key side it would rescale each key and change the weights.
  torch::Tensor map(const torch::Tensor& x, int64_t, int64_t) override {
    auto z = project(x);
    return torch::cat({torch::exp(z), torch::exp(-z)}, -1);
  }
};

class SoftmaxConcatMap : public LearnedMap {
 public:
  explicit SoftmaxConcatMap(FeatureMapOptions o) : LearnedMap(o, o.head_dim, true) {}
  int64_t output_dim() const override { return 2 * df_; }
  bool positive() const override { return true; }

 protected:
  torch::Tensor map(const torch::Tensor& x, int64_t, int64_t) override {
    auto z = project(x);
    return torch::softmax(torch::cat({2 * z, -2 * z}, -1), -1).clamp_min(kClampMin);
  }
};

class T2rMap : public LearnedMap {
 public:
  explicit T2rMap(FeatureMapOptions o) : LearnedMap(o, o.head_dim, true) {}
  int64_t output_dim() const override { return df_; }
  bool positive() const override { return false; }
  bool nonnegative() const override { return true; }

 protected:
  torch::Tensor map(const torch::Tensor& x, int64_t, int64_t) override {
    return torch::relu(project(x));
  }
};

class EluMap : public FeatureMapImpl {
 public:
  using FeatureMapImpl::FeatureMapImpl;
  int64_t output_dim() const override { return options_.head_dim; }
  bool positive() const override { return true; }

 protected:
  torch::Tensor map(const torch::Tensor& x, int64_t, int64_t) override {
    return torch::elu(x) + 1;
  }
};

class ReluMap : public FeatureMapImpl {
 public:
  using FeatureMapImpl::FeatureMapImpl;
  int64_t output_dim() const override { return options_.head_dim; }
  bool positive() const override { return true; }

 protected:
  torch::Tensor map(const torch::Tensor& x, int64_t, int64_t) override {
    return torch::relu(x).clamp_min(kClampMin);
  }
};

class ExpTMap : public FeatureMapImpl {
 public:
  ExpTMap(FeatureMapOptions o, double t) : FeatureMapImpl(std::move(o)), t_(t) {}
  int64_t output_dim() const override { return options_.head_dim; }
  bool positive() const override { return true; }

 protected:
  torch::Tensor map(const torch::Tensor& x, int64_t, int64_t) override {
    return torch::exp(t_ * x);
  }

 private:
  double t_;
};

// FAVOR+ positive random features: φ(x) = exp(Ωx̃ − ‖x̃‖²/2)/√m, x̃ = x/d^¼, so that
// E[φ(q)ᵀφ(k)] = exp(qᵀk/√d). Ω: m rows in blocks of d orthonormal rows (QR of a Gaussian matrix),
// each row rescaled to the norm of an independent Gaussian d-vector; a fixed buffer from the seed.
//
// No stabiliser is subtracted. Completing the square, ωᵀx̃ − ‖x̃‖²/2 ≤ ‖ω‖²/2 for every x, so
// each feature is bounded by the fixed constant exp(max‖ω‖²/2)/√m and cannot overflow. A per-row
// max would be exact for queries (a per-query factor cancels in the normaliser) but not for keys
// (a per-key factor reweights the keys), and a max over all keys would change with every decoded
// token and so invalidate the recurrent state.
class PerformerMap : public FeatureMapImpl {
 public:
  explicit PerformerMap(FeatureMapOptions o) : FeatureMapImpl(std::move(o)) {
    const int64_t m = options_.performer_features, d = options_.head_dim;
    ATTND_CHECK_INPUT(m > 0, "performer_features must be > 0, got ", m);
    auto gen = at::detail::createCPUGenerator(options_.seed);
    auto opts = torch::TensorOptions().dtype(torch::kDouble);
    std::vector<torch::Tensor> blocks;
    for (int64_t rows = 0; rows < m; rows += d) {
      auto g = at::randn({d, d}, gen, opts);
      blocks.push_back(std::get<0>(at::linalg_qr(g)).t());  // orthonormal rows
    }
    auto omega = torch::cat(blocks, 0).narrow(0, 0, m);
    auto norms = at::randn({m, d}, gen, opts).norm(2, {1}, true);
    this->omega = register_buffer("omega", (omega * norms).to(torch::kFloat));
  }
  int64_t output_dim() const override { return options_.performer_features; }
  bool positive() const override { return true; }

  torch::Tensor omega;  // [m, d]

 protected:
  torch::Tensor map(const torch::Tensor& x, int64_t, int64_t) override {
    const double d = static_cast<double>(options_.head_dim);
    auto xs = x / std::pow(d, 0.25);
    auto proj = torch::matmul(xs, omega.t());                    // [B, H, N, m]
    auto half_sq = 0.5 * xs.pow(2).sum(-1, true);                 // [B, H, N, 1]
    return torch::exp(proj - half_sq) / std::sqrt(static_cast<double>(omega.size(0)));
  }
};

// cosFormer: cos(π(i−j)/2M) = cos·cos + sin·sin, with 0-based positions i in [0, M), so both
// factors are ≥ 0. Decoding past M breaks that: give the final length up front.
class CosformerMap : public FeatureMapImpl {
 public:
  using FeatureMapImpl::FeatureMapImpl;
  int64_t output_dim() const override { return 2 * options_.head_dim; }
  bool positive() const override { return false; }
  bool nonnegative() const override { return true; }
  bool uses_positions() const override { return true; }

 protected:
  torch::Tensor map(const torch::Tensor& x, int64_t offset, int64_t length) override {
    const int64_t n = x.size(2);
    auto pos = torch::arange(offset, offset + n, x.options()).view({1, 1, n, 1});
    auto angle = pos * (kPi / (2.0 * static_cast<double>(length)));
    auto r = torch::relu(x);
    return torch::cat({r * torch::sin(angle), r * torch::cos(angle)}, -1);
  }
};

// Taylor-2 (Based): [1, x/d^¼, vec(xxᵀ)/(√2·√d)], D' = 1 + d + d².
class TaylorMap : public FeatureMapImpl {
 public:
  using FeatureMapImpl::FeatureMapImpl;
  int64_t output_dim() const override {
    const int64_t d = options_.head_dim;
    return 1 + d + d * d;
  }
  bool positive() const override { return false; }

 protected:
  torch::Tensor map(const torch::Tensor& x, int64_t, int64_t) override {
    const double d = static_cast<double>(options_.head_dim);
    auto outer = (x.unsqueeze(-1) * x.unsqueeze(-2)).flatten(-2) / std::sqrt(2.0 * d);
    auto one = torch::ones_like(x.narrow(-1, 0, 1));
    return torch::cat({one, x / std::pow(d, 0.25), outer}, -1);
  }
};

struct Entry {
  const char* name;
  std::function<FeatureMap(const FeatureMapOptions&)> make;
};

template <typename T>
Entry entry(const char* name) {
  return {name, [](const FeatureMapOptions& o) { return std::make_shared<T>(o); }};
}

Entry exp_t_entry(const char* name, double t) {
  return {name, [t](const FeatureMapOptions& o) {
            return std::make_shared<ExpTMap>(o, t > 0 ? t : o.exp_t);
          }};
}

const std::vector<Entry>& registry() {
  static const std::vector<Entry> table = {
      entry<SoftmaxSplitMap>("softmax_split"), entry<ExpMap>("exp"),
      entry<SoftmaxConcatMap>("softmax_concat"), entry<EluMap>("elu"),
      entry<ReluMap>("relu"), entry<T2rMap>("t2r"), entry<PerformerMap>("performer"),
      entry<CosformerMap>("cosformer"), entry<TaylorMap>("taylor"),
      exp_t_entry("exp_t1", 1.0), exp_t_entry("exp_t2", 2.0), exp_t_entry("exp_t", 0.0),
  };
  return table;
}

}  // namespace

torch::Tensor FeatureMapImpl::forward(const torch::Tensor& x, int64_t position_offset,
                                      int64_t sequence_length) {
  ATTND_CHECK_INPUT(x.dim() == 4 && x.size(1) == options_.num_heads &&
                        x.size(3) == options_.head_dim,
                    "feature map '", options_.kind, "' expects [B, ", options_.num_heads,
                    ", N, ", options_.head_dim, "], got ", x.sizes());
  if (sequence_length <= 0) sequence_length = position_offset + x.size(2);
  ATTND_CHECK_INPUT(!uses_positions() || position_offset + x.size(2) <= sequence_length,
                    "feature map '", options_.kind, "': positions ", position_offset, "..",
                    position_offset + x.size(2), " exceed the sequence length ",
                    sequence_length);
  return map(x, position_offset, sequence_length);
}

std::vector<std::string> feature_map_names() {
  std::vector<std::string> names;
  for (const auto& e : registry()) names.emplace_back(e.name);
  return names;
}

FeatureMap make_feature_map(const FeatureMapOptions& options) {
  ATTND_CHECK_INPUT(options.num_heads > 0 && options.head_dim > 0,
                    "feature map needs num_heads > 0 and head_dim > 0, got ", options.num_heads,
                    " and ", options.head_dim);
  for (const auto& e : registry())
    if (options.kind == e.name) return e.make(options);
  std::ostringstream known;
  for (const auto& name : feature_map_names()) known << (known.tellp() > 0 ? ", " : "") << name;
  throw_input_error("unknown feature map '", options.kind, "' (known: ", known.str(), ")");
}

}  // namespace attnd
