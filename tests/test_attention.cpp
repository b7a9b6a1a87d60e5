// AttentionImpl (every layout) against a float64 reference written here with explicit loops, plus
// masks, taps (record / inject), mixer swapping and a finite-difference gradient check.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <vector>

#include "attnd/core/error.h"
#include "attnd/nn/attention.h"
#include "attnd/nn/mixer.h"
#include "attnd/nn/taps.h"

namespace attnd {
namespace {

constexpr double kTol = 1e-10;

const char* layout_name(AttentionLayout l) {
  switch (l) {
    case AttentionLayout::kBert: return "bert";
    case AttentionLayout::kVit: return "vit";
    case AttentionLayout::kGpt2: return "gpt2";
  }
  return "?";
}

// A float64 attention module with every parameter random (biases and LayerNorm too, so that a
// wrong residual or norm cannot hide behind identity weights).
Attention make_attention(AttentionLayout layout, int64_t dim, int64_t heads, uint64_t seed = 1) {
  torch::manual_seed(seed);
  AttentionOptions o;
  o.hidden_size = dim;
  o.num_heads = heads;
  o.layout = layout;
  o.layer_norm_eps = 1e-5;
  Attention a(o);
  a->to(torch::kDouble);
  torch::NoGradGuard no_grad;
  for (auto& p : a->parameters()) p.copy_(torch::randn_like(p) * 0.5);
  return a;
}

torch::Tensor param(Attention& a, const std::string& name) {
  auto params = a->named_parameters();
  auto* p = params.find(name);
  EXPECT_NE(p, nullptr) << "no parameter " << name;
  return p ? p->detach().clone() : torch::Tensor();
}

// y = x Wᵀ + b with explicit loops: [N, Din] → [N, Dout].
torch::Tensor ref_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  const int64_t n = x.size(0), din = x.size(1), dout = w.size(0);
  auto y = torch::zeros({n, dout}, torch::kDouble);
  auto xa = x.accessor<double, 2>();
  auto wa = w.accessor<double, 2>();
  auto ya = y.accessor<double, 2>();
  auto bias = b.defined() ? b.contiguous() : torch::zeros({dout}, torch::kDouble);
  auto ba = bias.accessor<double, 1>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < dout; ++o) {
      double s = ba[o];
      for (int64_t k = 0; k < din; ++k) s += xa[i][k] * wa[o][k];
      ya[i][o] = s;
    }
  return y;
}

torch::Tensor ref_layer_norm(const torch::Tensor& x, const torch::Tensor& g, const torch::Tensor& b,
                             double eps) {
  auto y = torch::zeros_like(x);
  const int64_t n = x.size(0), d = x.size(1);
  auto xa = x.accessor<double, 2>(), ya = y.accessor<double, 2>();
  auto ga = g.accessor<double, 1>(), ba = b.accessor<double, 1>();
  for (int64_t i = 0; i < n; ++i) {
    double mean = 0, var = 0;
    for (int64_t k = 0; k < d; ++k) mean += xa[i][k];
    mean /= d;
    for (int64_t k = 0; k < d; ++k) var += (xa[i][k] - mean) * (xa[i][k] - mean);
    var /= d;
    for (int64_t k = 0; k < d; ++k) ya[i][k] = (xa[i][k] - mean) / std::sqrt(var + eps) * ga[k] + ba[k];
  }
  return y;
}

struct RefResult {
  torch::Tensor out;     // [B, N, D]
  torch::Tensor logits;  // [B, H, N, N] scaled, unmasked
  torch::Tensor probs;   // [B, H, N, N]
};

// softmax(QKᵀ/√d + mask) V, output projection (+ residual and LayerNorm for BERT), one batch row
// and one head at a time. allowed: [B, N, N] bool (may attend) or undefined.
RefResult reference(Attention& a, const torch::Tensor& x, const torch::Tensor& allowed) {
  const auto layout = a->options().layout;
  const int64_t B = x.size(0), N = x.size(1), D = x.size(2), H = a->num_heads(), Dh = D / H;
  torch::Tensor wq, bq, wk, bk, wv, bv, wo, bo;
  if (layout == AttentionLayout::kGpt2) {
    auto w = param(a, "c_attn.weight"), b = param(a, "c_attn.bias");
    wq = w.narrow(0, 0, D), wk = w.narrow(0, D, D), wv = w.narrow(0, 2 * D, D);
    bq = b.narrow(0, 0, D), bk = b.narrow(0, D, D), bv = b.narrow(0, 2 * D, D);
    wo = param(a, "c_proj.weight"), bo = param(a, "c_proj.bias");
  } else {
    const std::string s = layout == AttentionLayout::kBert ? "self." : "attention.";
    wq = param(a, s + "query.weight"), bq = param(a, s + "query.bias");
    wk = param(a, s + "key.weight"), bk = param(a, s + "key.bias");
    wv = param(a, s + "value.weight"), bv = param(a, s + "value.bias");
    wo = param(a, "output.dense.weight"), bo = param(a, "output.dense.bias");
  }
  RefResult r;
  r.out = torch::zeros({B, N, D}, torch::kDouble);
  r.logits = torch::zeros({B, H, N, N}, torch::kDouble);
  r.probs = torch::zeros({B, H, N, N}, torch::kDouble);
  auto la = r.logits.accessor<double, 4>();
  auto pa = r.probs.accessor<double, 4>();
  for (int64_t b = 0; b < B; ++b) {
    auto xb = x[b].detach();
    auto q = ref_linear(xb, wq, bq), k = ref_linear(xb, wk, bk), v = ref_linear(xb, wv, bv);
    auto qa = q.accessor<double, 2>(), ka = k.accessor<double, 2>(), va = v.accessor<double, 2>();
    auto context = torch::zeros({N, D}, torch::kDouble);
    auto ca = context.accessor<double, 2>();
    auto ok = [&](int64_t i, int64_t j) { return !allowed.defined() || allowed[b][i][j].item<bool>(); };
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t i = 0; i < N; ++i) {
        std::vector<double> s(N);
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < N; ++j) {
          double dot = 0;
          for (int64_t c = 0; c < Dh; ++c) dot += qa[i][h * Dh + c] * ka[j][h * Dh + c];
          s[j] = dot / std::sqrt(static_cast<double>(Dh));
          la[b][h][i][j] = s[j];
          if (ok(i, j)) mx = std::max(mx, s[j]);
        }
        double z = 0;
        std::vector<double> p(N, 0.0);
        for (int64_t j = 0; j < N; ++j)
          if (ok(i, j)) z += (p[j] = std::exp(s[j] - mx));
        for (int64_t j = 0; j < N; ++j) {
          p[j] /= z;
          pa[b][h][i][j] = p[j];
          for (int64_t c = 0; c < Dh; ++c) ca[i][h * Dh + c] += p[j] * va[j][h * Dh + c];
        }
      }
    }
    auto out = ref_linear(context, wo, bo);
    if (layout == AttentionLayout::kBert) {
      out = ref_layer_norm(out + xb, param(a, "output.LayerNorm.weight"),
                           param(a, "output.LayerNorm.bias"), a->options().layer_norm_eps);
    }
    r.out[b] = out;
  }
  return r;
}

class AttentionLayoutTest : public ::testing::TestWithParam<AttentionLayout> {};

TEST_P(AttentionLayoutTest, MatchesFloat64Reference) {
  auto a = make_attention(GetParam(), 8, 2);
  a->eval();
  auto x = torch::randn({2, 5, 8}, torch::kDouble);
  Taps taps;
  taps.record(kRecordLogits | kRecordProbs);
  auto out = a->forward(x, AttentionMask{}, &taps, 0);
  auto ref = reference(a, x, torch::Tensor());
  EXPECT_TRUE(torch::allclose(out, ref.out, kTol, kTol)) << layout_name(GetParam());
  EXPECT_TRUE(torch::allclose(taps.at(0).logits, ref.logits, kTol, kTol));
  EXPECT_TRUE(torch::allclose(taps.at(0).probs, ref.probs, kTol, kTol));
}

TEST_P(AttentionLayoutTest, MatchesReferenceWithPaddingAndCausalMasks) {
  auto a = make_attention(GetParam(), 8, 4, 2);
  a->eval();
  auto x = torch::randn({2, 6, 8}, torch::kDouble);
  auto pad = torch::tensor({1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0}, torch::kLong).view({2, 6});
  for (bool causal : {false, true}) {
    AttentionMask mask;
    mask.key_padding = pad;
    mask.causal = causal;
    auto allowed = torch::zeros({2, 6, 6}, torch::kBool);
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t i = 0; i < 6; ++i)
        for (int64_t j = 0; j < 6; ++j)
          allowed[b][i][j] = pad[b][j].item<int64_t>() == 1 && (!causal || j <= i);
    auto out = a->forward(x, mask, nullptr, 0);
    auto ref = reference(a, x, allowed);
    EXPECT_TRUE(torch::allclose(out, ref.out, kTol, kTol))
        << layout_name(GetParam()) << " causal=" << causal;
  }
}

TEST_P(AttentionLayoutTest, PaddedKeysGetZeroProbabilityAndDoNotChangeRealTokens) {
  auto a = make_attention(GetParam(), 8, 2, 3);
  a->eval();
  auto x = torch::randn({2, 6, 8}, torch::kDouble);
  AttentionMask mask;
  mask.key_padding = torch::tensor({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, torch::kLong).view({2, 6});
  Taps taps;
  taps.record(kRecordProbs);
  auto out = a->forward(x, mask, &taps, 3);
  auto probs = taps.at(3).probs;
  EXPECT_EQ(probs[1].narrow(-1, 4, 2).abs().max().item<double>(), 0.0);
  EXPECT_GT(probs[0].narrow(-1, 4, 2).min().item<double>(), 0.0);  // row 0 has no padding
  // Batch row 1 without its padding, alone and unmasked.
  auto alone = a->forward(x[1].narrow(0, 0, 4).unsqueeze(0), AttentionMask{}, nullptr, 3);
  EXPECT_TRUE(torch::allclose(out[1].narrow(0, 0, 4), alone[0], 1e-12, 1e-12));
  // Row 0 is unaffected by row 1's mask.
  auto row0 = a->forward(x[0].unsqueeze(0), AttentionMask{}, nullptr, 3);
  EXPECT_TRUE(torch::allclose(out[0], row0[0], 1e-12, 1e-12));
}

TEST_P(AttentionLayoutTest, CausalMaskHidesTheFuture) {
  auto a = make_attention(GetParam(), 8, 2, 4);
  a->eval();
  AttentionMask mask;
  mask.causal = true;
  auto x = torch::randn({1, 5, 8}, torch::kDouble);
  Taps taps;
  taps.record(kRecordProbs);
  auto out = a->forward(x, mask, &taps, 0);
  auto probs = taps.at(0).probs;
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = i + 1; j < 5; ++j)
      EXPECT_EQ(probs[0].select(-2, i).select(-1, j).abs().max().item<double>(), 0.0);
  auto changed = x.clone();
  changed[0][4].add_(torch::randn({8}, torch::kDouble));
  auto out2 = a->forward(changed, mask, nullptr, 0);
  EXPECT_TRUE(torch::allclose(out.narrow(1, 0, 4), out2.narrow(1, 0, 4), 1e-12, 1e-12));
  EXPECT_FALSE(torch::allclose(out.narrow(1, 4, 1), out2.narrow(1, 4, 1), 1e-6, 1e-6));
}

TEST_P(AttentionLayoutTest, TapsRecordLogitsProbsAndHeadOutputs) {
  auto a = make_attention(GetParam(), 12, 3, 5);
  a->eval();
  auto x = torch::randn({2, 4, 12}, torch::kDouble);
  Taps taps;
  taps.record(kRecordLogits | kRecordProbs | kRecordHeadOutputs, {7});
  a->forward(x, AttentionMask{}, &taps, 7);
  const auto& cap = taps.at(7);
  ASSERT_TRUE(cap.logits.defined() && cap.probs.defined() && cap.head_outputs.defined());
  EXPECT_EQ(cap.head_outputs.sizes(), (std::vector<int64_t>{2, 3, 4, 4}));
  EXPECT_TRUE(torch::allclose(cap.probs.sum(-1), torch::ones({2, 3, 4}, torch::kDouble), 1e-12, 1e-12));
  // logits = q kᵀ / √dh from the module's own projections.
  auto q = a->queries(x), k = a->keys(x);
  EXPECT_TRUE(torch::allclose(cap.logits, torch::matmul(q, k.transpose(-1, -2)) / 2.0, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(cap.head_outputs, torch::matmul(cap.probs, a->values(x)), 1e-12, 1e-12));
  // Nothing is recorded for a layer that was not asked for.
  Taps other;
  other.record(kRecordProbs, {1});
  a->forward(x, AttentionMask{}, &other, 0);
  EXPECT_TRUE(other.captures().empty());
}

TEST_P(AttentionLayoutTest, InjectingRecordedAttentionReproducesTheOutput) {
  auto a = make_attention(GetParam(), 8, 2, 6);
  a->eval();
  auto x = torch::randn({2, 5, 8}, torch::kDouble);
  AttentionMask mask;
  mask.key_padding = torch::tensor({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, torch::kLong).view({2, 5});
  Taps rec;
  rec.record(kRecordLogits | kRecordProbs);
  auto out = a->forward(x, mask, &rec, 2);

  Taps inject_p;
  inject_p.inject_probs(2, rec.at(2).probs);
  EXPECT_TRUE(torch::equal(a->forward(x, mask, &inject_p, 2), out));
  Taps inject_l;
  inject_l.inject_logits(2, rec.at(2).logits);
  EXPECT_TRUE(torch::equal(a->forward(x, mask, &inject_l, 2), out));
  // The injection is really used: uniform probabilities give another output.
  Taps uniform;
  uniform.inject_probs(2, torch::full({2, 2, 5, 5}, 0.2, torch::kDouble));
  EXPECT_FALSE(torch::allclose(a->forward(x, mask, &uniform, 2), out, 1e-6, 1e-6));
  // An injection for another layer is ignored.
  EXPECT_TRUE(torch::equal(a->forward(x, mask, &uniform, 0), out));
  // A wrongly shaped injection is a user error.
  Taps bad;
  bad.inject_probs(2, torch::ones({2, 2, 5, 4}, torch::kDouble));
  EXPECT_THROW(a->forward(x, mask, &bad, 2), InputError);
}

// Mean of the values: a parameterised mixer that differs from softmax.
class MeanMixerImpl : public MixerImpl {
 public:
  MeanMixerImpl() { scale = register_parameter("scale", torch::ones({1}, torch::kDouble)); }
  std::string kind() const override { return "mean"; }
  torch::Tensor forward(const torch::Tensor&, const torch::Tensor&, const torch::Tensor& v,
                        const AttentionMask&, const MixerTap&) override {
    return (v.mean(-2, true) * scale).expand_as(v);
  }
  torch::Tensor scale;
};

TEST_P(AttentionLayoutTest, SetMixerKeepsProjectionParameters) {
  auto a = make_attention(GetParam(), 8, 2, 7);
  auto before = a->named_parameters();
  auto x = torch::randn({1, 4, 8}, torch::kDouble);
  auto out_softmax = a->forward(x, AttentionMask{}, nullptr, 0);

  a->set_mixer(make_mixer("softmax"));
  auto after = a->named_parameters();
  ASSERT_EQ(after.size(), before.size());
  for (const auto& item : before) {
    auto* p = after.find(item.key());
    ASSERT_NE(p, nullptr) << item.key();
    EXPECT_TRUE(p->is_same(item.value())) << item.key();
  }
  EXPECT_TRUE(torch::equal(a->forward(x, AttentionMask{}, nullptr, 0), out_softmax));

  a->set_mixer(std::make_shared<MeanMixerImpl>());
  auto with_mean = a->named_parameters();
  EXPECT_EQ(with_mean.size(), before.size() + 1);
  EXPECT_NE(with_mean.find("mixer.scale"), nullptr);
  for (const auto& item : before) EXPECT_TRUE(with_mean.find(item.key())->is_same(item.value()));
  EXPECT_EQ(a->mixer()->kind(), "mean");
  EXPECT_FALSE(torch::allclose(a->forward(x, AttentionMask{}, nullptr, 0), out_softmax, 1e-6, 1e-6));
}

TEST_P(AttentionLayoutTest, GradientMatchesFiniteDifferences) {
  auto a = make_attention(GetParam(), 4, 2, 8);
  a->eval();
  AttentionMask mask;
  mask.causal = GetParam() == AttentionLayout::kGpt2;
  auto x = torch::randn({1, 3, 4}, torch::kDouble).requires_grad_(true);
  auto w = torch::randn({1, 3, 4}, torch::kDouble);
  auto loss_of = [&]() { return (a->forward(x, mask, nullptr, 0) * w).sum(); };

  a->zero_grad();
  loss_of().backward();
  std::vector<std::pair<torch::Tensor, torch::Tensor>> checks = {{x, x.grad().clone()}};
  for (auto& p : a->parameters()) checks.emplace_back(p, p.grad().clone());

  torch::NoGradGuard no_grad;
  const double eps = 1e-6;
  for (auto& check : checks) {
    auto t = check.first;
    auto flat = t.view({-1});
    auto numeric = torch::zeros_like(flat);
    for (int64_t i = 0; i < flat.numel(); ++i) {
      const double orig = flat[i].item<double>();
      flat[i] = orig + eps;
      const double up = loss_of().item<double>();
      flat[i] = orig - eps;
      const double down = loss_of().item<double>();
      flat[i] = orig;
      numeric[i] = (up - down) / (2 * eps);
    }
    EXPECT_TRUE(torch::allclose(check.second.view({-1}), numeric, 1e-6, 1e-7))
        << layout_name(GetParam()) << " tensor of shape " << t.sizes() << "\nautograd "
        << check.second.view({-1}) << "\nnumeric " << numeric;
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, AttentionLayoutTest,
                         ::testing::Values(AttentionLayout::kBert, AttentionLayout::kVit,
                                           AttentionLayout::kGpt2),
                         [](const ::testing::TestParamInfo<AttentionLayout>& info) {
                           return std::string(layout_name(info.param));
                         });

TEST(AttentionParameterNames, FollowHuggingFaceLayouts) {
  auto names = [](AttentionLayout l) {
    AttentionOptions o;
    o.hidden_size = 8;
    o.num_heads = 2;
    o.layout = l;
    std::vector<std::string> out;
    for (const auto& item : Attention(o)->named_parameters()) out.push_back(item.key());
    return out;
  };
  EXPECT_EQ(names(AttentionLayout::kBert),
            (std::vector<std::string>{"self.query.weight", "self.query.bias", "self.key.weight",
                                      "self.key.bias", "self.value.weight", "self.value.bias",
                                      "output.dense.weight", "output.dense.bias",
                                      "output.LayerNorm.weight", "output.LayerNorm.bias"}));
  EXPECT_EQ(names(AttentionLayout::kVit),
            (std::vector<std::string>{"attention.query.weight", "attention.query.bias",
                                      "attention.key.weight", "attention.key.bias",
                                      "attention.value.weight", "attention.value.bias",
                                      "output.dense.weight", "output.dense.bias"}));
  EXPECT_EQ(names(AttentionLayout::kGpt2),
            (std::vector<std::string>{"c_attn.weight", "c_attn.bias", "c_proj.weight", "c_proj.bias"}));
}

TEST(AttentionOptionsCheck, HiddenSizeMustDivideIntoHeads) {
  AttentionOptions o;
  o.hidden_size = 10;
  o.num_heads = 4;
  EXPECT_THROW(Attention{o}, InputError);
}

}  // namespace
}  // namespace attnd
