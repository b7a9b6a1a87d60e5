// Linear attention: the four forms (quadratic, non-causal, causal chunked, recurrent) against a
// float64 loop oracle written here, their gradients (against each other, through learned feature
// maps and against finite differences), every feature map against its formula, and the linear
// and hybrid mixers inside an Attention.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "attnd/core/error.h"
#include "attnd/nn/attention.h"
#include "attnd/nn/feature_map.h"
#include "attnd/nn/linear_attention.h"
#include "attnd/nn/linear_mixer.h"
#include "attnd/nn/mixer.h"
#include "attnd/nn/taps.h"
#include "test_utils.h"

namespace attnd {
namespace {

using test::error_of;
using test::expect_close;

constexpr double kTol = 1e-12;
const auto kF64 = torch::TensorOptions().dtype(torch::kDouble);

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// y_n = Σ_{i∈S(n)} (φq_n·φk_i) v_i / (Σ_{i∈S(n)} φq_n·φk_i + eps), one scalar at a time.
// pad: [B, Nk] long (1 = real) or undefined; queries sit at the end of the keys.
torch::Tensor oracle(const torch::Tensor& fq, const torch::Tensor& fk, const torch::Tensor& v,
                     const torch::Tensor& pad, bool causal, double eps = kLinearAttentionEps) {
  const int64_t B = fq.size(0), H = fq.size(1), Nq = fq.size(2), Nk = fk.size(2);
  const int64_t D = fq.size(3), Dv = v.size(3);
  auto out = torch::zeros({B, H, Nq, Dv}, kF64);
  auto qa = fq.accessor<double, 4>(), ka = fk.accessor<double, 4>(), va = v.accessor<double, 4>();
  auto oa = out.accessor<double, 4>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t n = 0; n < Nq; ++n) {
        std::vector<double> num(Dv, 0.0);
        double den = 0;
        for (int64_t i = 0; i < Nk; ++i) {
          if (pad.defined() && pad[b][i].item<int64_t>() == 0) continue;
          if (causal && i > Nk - Nq + n) continue;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += qa[b][h][n][d] * ka[b][h][i][d];
          den += dot;
          for (int64_t e = 0; e < Dv; ++e) num[e] += dot * va[b][h][i][e];
        }
        for (int64_t e = 0; e < Dv; ++e) oa[b][h][n][e] = num[e] / (den + eps);
      }
  return out;
}

// Batch row 1 pads its first key (a causal query 0 then sees nothing) and its last two.
torch::Tensor padding(int64_t n) {
  auto pad = torch::ones({2, n}, torch::kLong);
  pad[1][0] = 0;
  if (n > 3) pad[1].narrow(0, n - 2, 2).zero_();
  return pad;
}

struct Inputs {
  torch::Tensor fq, fk, v;
};

// Positive features (as every map the mixers use by default) and arbitrary values.
Inputs random_inputs(int64_t n, int64_t d = 5, int64_t dv = 3, uint64_t seed = 0) {
  torch::manual_seed(seed);
  return {torch::rand({2, 2, n, d}, kF64) + 0.05, torch::rand({2, 2, n, d}, kF64) + 0.05,
          torch::randn({2, 2, n, dv}, kF64)};
}

TEST(LinearAttentionForms, AgreeWithLoopOracle) {
  for (int64_t n : {1, 5, 8, 13}) {
    auto in = random_inputs(n, 5, 3, n);
    for (bool padded : {false, true}) {
      auto pad = padded ? padding(n) : torch::Tensor();
      for (bool causal : {false, true}) {
        const std::string what = "n=" + std::to_string(n) + " padded=" + std::to_string(padded) +
                                 " causal=" + std::to_string(causal);
        AttentionMask mask{pad, causal};
        auto ref = oracle(in.fq, in.fk, in.v, pad, causal);
        expect_close(linear_attention_quadratic(in.fq, in.fk, in.v, mask), ref, kTol,
                     "quadratic " + what);
        if (!causal) {
          expect_close(linear_attention_noncausal(in.fq, in.fk, in.v, mask), ref, kTol,
                       "noncausal " + what);
          continue;
        }
        for (int64_t chunk : {1, 4, 5, 64})
          expect_close(linear_attention_causal_chunked(in.fq, in.fk, in.v, pad, chunk), ref, kTol,
                       "chunked C=" + std::to_string(chunk) + " " + what);
        // Recurrent: one token at a time, then in steps of three.
        for (int64_t step : {1, 3}) {
          LinearAttentionState state;
          std::vector<torch::Tensor> outs;
          for (int64_t t = 0; t < n; t += step) {
            const int64_t len = std::min(step, n - t);
            outs.push_back(state.step(in.fq.narrow(2, t, len), in.fk.narrow(2, t, len),
                                      in.v.narrow(2, t, len),
                                      padded ? pad.narrow(1, t, len) : torch::Tensor()));
            EXPECT_EQ(state.S.sizes(), (std::vector<int64_t>{2, 2, 5, 3}));  // never grows
            EXPECT_EQ(state.z.sizes(), (std::vector<int64_t>{2, 2, 5}));
          }
          EXPECT_EQ(state.tokens, n);
          expect_close(torch::cat(outs, 2), ref, kTol,
                       "recurrent step=" + std::to_string(step) + " " + what);
        }
      }
    }
  }
}

TEST(LinearAttentionForms, QuadraticWeightsAreNormalisedOverAllowedKeys) {
  auto in = random_inputs(6);
  auto pad = padding(6);
  for (bool causal : {false, true}) {
    auto w = linear_attention_weights(in.fq, in.fk, AttentionMask{pad, causal});
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t n = 0; n < 6; ++n) {
        double sum = 0;
        bool any = false;
        for (int64_t i = 0; i < 6; ++i) {
          const double a = w[b][1][n][i].item<double>();
          const bool ok = pad[b][i].item<int64_t>() == 1 && (!causal || i <= n);
          if (ok) {
            EXPECT_GT(a, 0.0);
            any = true;
          } else {
            EXPECT_EQ(a, 0.0) << "b=" << b << " n=" << n << " i=" << i;
          }
          sum += a;
        }
        EXPECT_NEAR(sum, any ? 1.0 : 0.0, 1e-5) << "b=" << b << " n=" << n;
      }
  }
}

TEST(LinearAttentionForms, QueriesAtTheEndOfTheKeys) {
  // Nq < Nk with causal: the queries are the last Nq positions (as in AttentionMask).
  auto in = random_inputs(9);
  auto fq = in.fq.narrow(2, 5, 4).contiguous();
  auto ref = oracle(fq, in.fk, in.v, padding(9), true);
  expect_close(linear_attention_quadratic(fq, in.fk, in.v, AttentionMask{padding(9), true}), ref,
               kTol);
  expect_close(linear_attention_causal_chunked(in.fq, in.fk, in.v, padding(9), 4).narrow(2, 5, 4),
               ref, kTol);
}

// Gradients of sum(y · w) w.r.t. the inputs.
std::vector<torch::Tensor> grads_of(const torch::Tensor& y, const torch::Tensor& w,
                                    const std::vector<torch::Tensor>& inputs) {
  return torch::autograd::grad({(y * w).sum()}, inputs);
}

TEST(LinearAttentionGradients, ChunkedMatchesQuadratic) {
  for (int64_t n : {7, 16}) {
    auto in = random_inputs(n, 4, 3, 10 + n);
    auto fq = in.fq.requires_grad_(true), fk = in.fk.requires_grad_(true);
    auto v = in.v.requires_grad_(true);
    auto w = torch::randn({2, 2, n, 3}, kF64);
    for (bool padded : {false, true}) {
      auto pad = padded ? padding(n) : torch::Tensor();
      auto ref = grads_of(linear_attention_quadratic(fq, fk, v, AttentionMask{pad, true}), w,
                          {fq, fk, v});
      for (int64_t chunk : {3, 4, 64}) {
        auto got = grads_of(linear_attention_causal_chunked(fq, fk, v, pad, chunk), w, {fq, fk, v});
        const char* names[] = {"dq", "dk", "dv"};
        for (int i = 0; i < 3; ++i)
          EXPECT_LE(max_diff(got[i], ref[i]), 1e-10)
              << names[i] << " n=" << n << " chunk=" << chunk << " padded=" << padded;
      }
      if (padded) {  // padded keys get no gradient
        auto got = grads_of(linear_attention_causal_chunked(fq, fk, v, pad, 4), w, {fk, v});
        EXPECT_EQ(got[0][1].select(1, 0).abs().max().item<double>(), 0.0);
        EXPECT_EQ(got[1][1].select(1, n - 1).abs().max().item<double>(), 0.0);
      }
    }
  }
}

TEST(LinearAttentionGradients, ChunkedMatchesFiniteDifferences) {
  torch::manual_seed(3);
  auto fq = (torch::rand({1, 1, 5, 3}, kF64) + 0.1).requires_grad_(true);
  auto fk = (torch::rand({1, 1, 5, 3}, kF64) + 0.1).requires_grad_(true);
  auto v = torch::randn({1, 1, 5, 2}, kF64).requires_grad_(true);
  auto w = torch::randn({1, 1, 5, 2}, kF64);
  auto loss = [&] { return (linear_attention_causal_chunked(fq, fk, v, {}, 2) * w).sum(); };
  auto analytic = torch::autograd::grad({loss()}, {fq, fk, v});
  torch::NoGradGuard no_grad;
  const double h = 1e-6;
  std::vector<torch::Tensor> tensors = {fq, fk, v};
  for (size_t t = 0; t < tensors.size(); ++t) {
    auto flat = tensors[t].view({-1});
    auto numeric = torch::zeros_like(flat);
    for (int64_t i = 0; i < flat.numel(); ++i) {
      const double orig = flat[i].item<double>();
      flat[i] = orig + h;
      const double up = loss().item<double>();
      flat[i] = orig - h;
      const double down = loss().item<double>();
      flat[i] = orig;
      numeric[i] = (up - down) / (2 * h);
    }
    auto got = analytic[t].reshape({-1});
    EXPECT_TRUE(torch::allclose(got, numeric, 1e-6, 1e-8))
        << "input " << t << "\nautograd " << got << "\nnumeric " << numeric;
  }
}

// A learned map moved away from its identity start, so that a wrong weight gradient shows.
FeatureMapOptions map_options(const std::string& kind, int64_t heads = 2, int64_t dh = 4) {
  FeatureMapOptions o;
  o.kind = kind;
  o.num_heads = heads;
  o.head_dim = dh;
  o.performer_features = 16;
  o.seed = 7;
  return o;
}

void perturb(torch::nn::Module& m, double scale = 0.3) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters()) p.add_(torch::randn_like(p) * scale);
}

TEST(LinearAttentionGradients, ThroughLearnedFeatureMapsChunkedMatchesQuadratic) {
  for (const char* kind : {"softmax_split", "exp", "softmax_concat", "t2r"}) {
    torch::manual_seed(11);
    LinearMixerOptions options;
    options.feature_map = map_options(kind);
    options.chunk = 3;
    auto mixer = std::make_shared<LinearMixerImpl>(options);
    mixer->to(torch::kDouble);
    perturb(*mixer);
    auto q = torch::randn({2, 2, 10, 4}, kF64).requires_grad_(true);
    auto k = torch::randn({2, 2, 10, 4}, kF64).requires_grad_(true);
    auto v = torch::randn({2, 2, 10, 3}, kF64).requires_grad_(true);
    auto w = torch::randn({2, 2, 10, 3}, kF64);
    AttentionMask mask{padding(10), true};
    std::vector<torch::Tensor> inputs = {q, k, v, mixer->q_map->parameters()[0],
                                         mixer->k_map->parameters()[0]};
    // The plain forward takes the chunked path; asking for probabilities takes the quadratic.
    auto chunked = mixer->forward(q, k, v, mask, MixerTap{});
    LayerCapture capture;
    auto quadratic = mixer->forward(q, k, v, mask, MixerTap{false, true, &capture});
    ASSERT_TRUE(capture.probs.defined());
    EXPECT_FALSE(capture.logits.defined());
    EXPECT_LE(max_diff(chunked, quadratic), 1e-10) << kind;
    auto got = grads_of(chunked, w, inputs), ref = grads_of(quadratic, w, inputs);
    for (size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_GT(ref[i].abs().max().item<double>(), 0.0) << kind << " input " << i;
      EXPECT_LE(max_diff(got[i], ref[i]), 1e-10) << kind << " input " << i;
    }
  }
}

// ---- feature maps --------------------------------------------------------------------------

TEST(FeatureMaps, EveryKindHasItsShapeAndSign) {
  torch::manual_seed(1);
  auto x = torch::randn({2, 3, 5, 8}, kF64) * 2;
  for (const auto& name : feature_map_names()) {
    auto o = map_options(name, 3, 8);
    auto map = make_feature_map(o);
    map->to(torch::kDouble);
    auto f = map->forward(x);
    EXPECT_EQ(map->kind(), name);
    ASSERT_EQ(f.sizes(), (std::vector<int64_t>{2, 3, 5, map->output_dim()})) << name;
    EXPECT_TRUE(torch::isfinite(f).all().item<bool>()) << name;
    if (map->positive()) {
      EXPECT_GT(f.min().item<double>(), 0.0) << name;
    }
    if (map->nonnegative()) {
      EXPECT_GE(f.min().item<double>(), 0.0) << name;
    }
  }
  auto dim = [](const std::string& kind) {
    return make_feature_map(map_options(kind, 3, 8))->output_dim();
  };
  EXPECT_EQ(dim("softmax_split"), 8);
  EXPECT_EQ(dim("exp"), 16);
  EXPECT_EQ(dim("softmax_concat"), 16);
  EXPECT_EQ(dim("taylor"), 1 + 8 + 64);
  EXPECT_EQ(dim("performer"), 16);
  EXPECT_EQ(dim("cosformer"), 16);
  EXPECT_EQ(dim("elu"), 8);
  EXPECT_FALSE(make_feature_map(map_options("taylor"))->nonnegative());
}

// softmax over the last dim with explicit exp and sums.
torch::Tensor ref_softmax(const torch::Tensor& z) {
  auto e = (z - z.max()).exp();
  return e / e.sum(-1, true);
}

TEST(FeatureMaps, HedgehogMapsAtIdentityInitMatchTheirFormulas) {
  torch::manual_seed(2);
  auto x = torch::randn({2, 3, 4, 8}, kF64);
  auto eval = [&](const std::string& kind) {
    auto map = make_feature_map(map_options(kind, 3, 8));
    map->to(torch::kDouble);
    return map->forward(x);
  };
  auto half = x.narrow(-1, 0, 4);
  expect_close(eval("softmax_split"), torch::cat({ref_softmax(half), ref_softmax(-half)}, -1),
               kTol, "softmax_split");
  expect_close(eval("exp"), torch::cat({x.exp(), (-x).exp()}, -1), kTol, "exp");
  expect_close(eval("softmax_concat"), ref_softmax(torch::cat({2 * x, -2 * x}, -1)), kTol,
               "softmax_concat");
  expect_close(eval("t2r"), x.clamp_min(0), kTol, "t2r");
  expect_close(eval("elu"), torch::where(x > 0, x + 1, x.exp()), kTol, "elu");
  expect_close(eval("relu"), x.clamp_min(1e-12), kTol, "relu");
  expect_close(eval("exp_t1"), x.exp(), kTol, "exp_t1");
  expect_close(eval("exp_t2"), (2 * x).exp(), kTol, "exp_t2");

  // Learned maps: one W [H, Dh, Df] (and b [H, Df]) per map, rectangular identity at init.
  auto split = make_feature_map(map_options("softmax_split", 3, 8));
  auto params = split->named_parameters();
  ASSERT_EQ(params.size(), 1u);
  ASSERT_NE(params.find("weight"), nullptr);
  EXPECT_EQ(params["weight"].sizes(), (std::vector<int64_t>{3, 8, 4}));
  EXPECT_TRUE(torch::equal(params["weight"][2], torch::eye(8, 4)));
  auto exp_params = make_feature_map(map_options("exp", 3, 8))->named_parameters();
  EXPECT_EQ(exp_params["weight"].sizes(), (std::vector<int64_t>{3, 8, 8}));
  EXPECT_EQ(exp_params["bias"].sizes(), (std::vector<int64_t>{3, 8}));
  auto o = map_options("softmax_split", 3, 8);
  o.feature_dim = 6;
  EXPECT_EQ(make_feature_map(o)->output_dim(), 12);
}

TEST(FeatureMaps, LearnedMapsArePerHead) {
  auto map = make_feature_map(map_options("softmax_split", 2, 4));
  map->to(torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    map->named_parameters()["weight"][1].mul_(3.0);  // head 1 only
  }
  auto x = torch::randn({1, 2, 3, 4}, kF64);
  auto f = map->forward(x);
  auto h0 = x.select(1, 0).narrow(-1, 0, 2), h1 = 3 * x.select(1, 1).narrow(-1, 0, 2);
  expect_close(f.select(1, 0), torch::cat({ref_softmax(h0), ref_softmax(-h0)}, -1), kTol);
  expect_close(f.select(1, 1), torch::cat({ref_softmax(h1), ref_softmax(-h1)}, -1), kTol);
}

TEST(FeatureMaps, TaylorKernelIdentity) {
  torch::manual_seed(4);
  const int64_t d = 6;
  auto q = torch::randn({1, 2, 5, d}, kF64), k = torch::randn({1, 2, 7, d}, kF64);
  auto map = make_feature_map(map_options("taylor", 2, d));
  auto got = torch::matmul(map->forward(q), map->forward(k).transpose(-1, -2));
  auto dot = torch::matmul(q, k.transpose(-1, -2));
  auto want = 1 + dot / std::sqrt(double(d)) + dot.pow(2) / (2.0 * d);
  expect_close(got, want, 1e-12, "taylor");
}

TEST(FeatureMaps, CosformerKernelIsReweightedByPositionDistance) {
  torch::manual_seed(5);
  const int64_t n = 6, m = 10;
  auto q = torch::randn({1, 1, n, 4}, kF64), k = torch::randn({1, 1, n, 4}, kF64);
  auto map = make_feature_map(map_options("cosformer", 1, 4));
  auto got = torch::matmul(map->forward(q, 0, m), map->forward(k, 0, m).transpose(-1, -2));
  auto pi = std::acos(-1.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const double relu_dot =
          (q[0][0][i].clamp_min(0) * k[0][0][j].clamp_min(0)).sum().item<double>();
      EXPECT_NEAR(got[0][0][i][j].item<double>(), relu_dot * std::cos(pi * (i - j) / (2.0 * m)),
                  1e-12);
    }
  // An offset continues the same positions.
  expect_close(map->forward(q.narrow(2, 2, 4), 2, m), map->forward(q, 0, m).narrow(2, 2, 4), kTol);
  EXPECT_THROW(map->forward(q, 6, m), InputError);  // positions 6..11 ≥ M
}

TEST(FeatureMaps, PerformerApproachesTheSoftmaxKernel) {
  torch::manual_seed(6);
  const int64_t d = 16;
  auto q = torch::randn({1, 1, 24, d}, kF64) * 0.4, k = torch::randn({1, 1, 24, d}, kF64) * 0.4;
  auto want = (torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(d))).exp();
  std::vector<double> errors;
  for (int64_t m : {16, 256, 4096}) {
    auto o = map_options("performer", 1, d);
    o.performer_features = m;
    o.seed = 123;
    auto map = make_feature_map(o);
    map->to(torch::kDouble);
    auto got = torch::matmul(map->forward(q), map->forward(k).transpose(-1, -2));
    errors.push_back(((got - want).abs() / want).mean().item<double>());
  }
  EXPECT_GT(errors[0], errors[1]);
  EXPECT_GT(errors[1], errors[2]);
  EXPECT_LT(errors[2], 0.05) << errors[0] << " " << errors[1] << " " << errors[2];
  // Ω is a fixed function of the seed.
  auto a = make_feature_map(map_options("performer", 1, d));
  auto b = make_feature_map(map_options("performer", 1, d));
  auto o = map_options("performer", 1, d);
  o.seed = 8;
  auto c = make_feature_map(o);
  auto omega = [](const FeatureMap& f) { return f->named_buffers()["omega"]; };
  EXPECT_TRUE(torch::equal(omega(a), omega(b)));
  EXPECT_FALSE(torch::equal(omega(a), omega(c)));
  EXPECT_TRUE(a->parameters().empty());
}

TEST(FeatureMaps, RegistryRejectsUnknownNamesAndBadShapes) {
  auto o = map_options("hedgehog_typo");
  const auto msg = error_of([&] { make_feature_map(o); });
  EXPECT_NE(msg.find("hedgehog_typo"), std::string::npos) << msg;
  for (const auto& name : feature_map_names())
    EXPECT_NE(msg.find(name), std::string::npos) << "message does not list " << name << ": " << msg;
  EXPECT_EQ(feature_map_names().size(), 12u);
  auto map = make_feature_map(map_options("elu", 2, 4));
  EXPECT_THROW(map->forward(torch::randn({1, 3, 5, 4})), InputError);  // 3 heads, not 2
  EXPECT_THROW(map->forward(torch::randn({1, 2, 5, 5})), InputError);  // head_dim 5, not 4
}

// ---- mixers ---------------------------------------------------------------------------------

Attention make_attention(uint64_t seed, int64_t dim = 8, int64_t heads = 2) {
  torch::manual_seed(seed);
  AttentionOptions o;
  o.hidden_size = dim;
  o.num_heads = heads;
  o.layout = AttentionLayout::kGpt2;
  return Attention(o);
}

TEST(LinearMixer, InsideAttentionForwardBackwardAndProbs) {
  for (const char* kind : {"softmax_split", "performer", "cosformer", "taylor"}) {
    auto attention = make_attention(1);
    const auto before = attention->named_parameters().size();
    LinearMixerOptions options;
    options.feature_map = map_options(kind, 2, 4);
    options.chunk = 4;
    attention->set_mixer(std::make_shared<LinearMixerImpl>(options));
    attention->to(torch::kDouble);
    auto params = attention->named_parameters();
    if (std::string(kind) == "softmax_split") {
      EXPECT_EQ(params.size(), before + 2);
      EXPECT_NE(params.find("mixer.q_map.weight"), nullptr);
      EXPECT_NE(params.find("mixer.k_map.weight"), nullptr);
    }
    auto x = torch::randn({2, 9, 8}, kF64).requires_grad_(true);
    for (bool causal : {false, true}) {
      AttentionMask mask{padding(9), causal};
      auto out = attention->forward(x, mask, nullptr, 0);
      Taps taps;
      taps.record(kRecordLogits | kRecordProbs);
      auto with_probs = attention->forward(x, mask, &taps, 0);
      EXPECT_LE(max_diff(out, with_probs), 1e-10) << kind << " causal=" << causal;
      const auto& cap = taps.at(0);
      EXPECT_FALSE(cap.logits.defined());
      ASSERT_TRUE(cap.probs.defined());
      auto sums = cap.probs.sum(-1);
      // Batch row 0 has no padding: every row sums to one when the kernel is positive (taylor's
      // is: 1 + x + x²/2 > 0; cosformer's relu features can miss every key). Row 1's causal
      // query 0 sees nothing.
      if (std::string(kind) != "cosformer") {
        EXPECT_LE(max_diff(sums[0], torch::ones_like(sums[0])), 1e-5) << kind;
      }
      attention->zero_grad();
      (out * out).sum().backward();
      EXPECT_GT(x.grad().abs().max().item<double>(), 0.0);
      for (const auto& p : attention->named_parameters())
        EXPECT_TRUE(p.value().grad().defined()) << kind << " " << p.key();
      x.mutable_grad() = torch::Tensor();
    }
  }
}

// The hybrid's formula, one scalar at a time.
torch::Tensor hybrid_oracle(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& fq,
                            const torch::Tensor& fk, const torch::Tensor& window_factor,
                            const torch::Tensor& linear_factor,
                            const torch::Tensor& pad, bool causal, int64_t window, double eps) {
  const int64_t B = q.size(0), H = q.size(1), N = q.size(2), D = q.size(3), F = fq.size(3);
  auto out = torch::zeros({B, H, N, N}, kF64);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t n = 0; n < N; ++n) {
        std::vector<double> s(N, 0.0), a(N, 0.0);
        std::vector<int> part(N, 0);  // 0 none, 1 window, 2 linear
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t i = 0; i < N; ++i) {
          if (pad.defined() && pad[b][i].item<int64_t>() == 0) continue;
          if (causal && i > n) continue;
          const int64_t dist = causal ? n - i : std::abs(n - i);
          part[i] = dist < window ? 1 : 2;
          for (int64_t c = 0; c < D; ++c)
            s[i] += q[b][h][n][c].item<double>() * k[b][h][i][c].item<double>();
          s[i] /= std::sqrt(double(D));
          if (part[i] == 1) mx = std::max(mx, s[i]);
        }
        double total = 0;
        for (int64_t i = 0; i < N; ++i) {
          if (part[i] == 1) a[i] = window_factor[h].item<double>() * std::exp(s[i] - mx);
          if (part[i] == 2) {
            double dot = 0;
            for (int64_t c = 0; c < F; ++c)
              dot += fq[b][h][n][c].item<double>() * fk[b][h][i][c].item<double>();
            a[i] = linear_factor[h].item<double>() * dot;
          }
          total += a[i];
        }
        for (int64_t i = 0; i < N; ++i) out[b][h][n][i] = a[i] / (total + eps);
      }
  return out;
}

TEST(HybridMixer, MatchesItsFormula) {
  for (bool affine : {false, true}) {
    HybridMixerOptions options;
    options.feature_map = map_options("softmax_split", 2, 4);
    options.window = 3;
    options.affine_attention_factors = affine;
    auto mixer = std::make_shared<HybridMixerImpl>(options);
    mixer->to(torch::kDouble);
    // LoLCATs' *_w01 start: 0.1 on the window, 1 (or 0.9 affine) on the linear part.
    EXPECT_LE(max_diff(mixer->window_factor(), torch::full({2}, 0.1, kF64)), 1e-7);
    EXPECT_LE(max_diff(mixer->linear_factor(), torch::full({2}, affine ? 0.9 : 1.0, kF64)), 1e-7);
    torch::manual_seed(9);
    perturb(*mixer, 0.5);
    auto q = torch::randn({2, 2, 8, 4}, kF64), k = torch::randn({2, 2, 8, 4}, kF64);
    auto fq = mixer->q_map->forward(q), fk = mixer->k_map->forward(k);
    for (bool causal : {false, true}) {
      auto pad = padding(8);
      auto got = mixer->weights(q, k, AttentionMask{pad, causal});
      auto want = hybrid_oracle(q, k, fq, fk, mixer->window_factor().detach(),
                                mixer->linear_factor().detach(), pad, causal, 3, options.eps);
      expect_close(got, want, kTol, "affine=" + std::to_string(affine) +
                                        " causal=" + std::to_string(causal));
    }
  }
}

// LoLCATs' hybrid_attention_quadratic (src/model/linear_attention/linear_window_attention_sw.py),
// written out here in its own terms — masks from tril, window logits filled with -1e8, the factors
// applied after the exp, one normaliser, no eps — with LoLCATs-shaped window_factors [1, H, 1, 1]
// copied into attnd's [H] as they are. attnd's mixer with eps = 0 must give its outputs.
torch::Tensor lolcats_hybrid_quadratic(const torch::Tensor& q, const torch::Tensor& k,
                                       const torch::Tensor& f_q, const torch::Tensor& f_k,
                                       const torch::Tensor& v, const torch::Tensor& window_factor,
                                       const torch::Tensor& linear_factor, int64_t window_size) {
  const int64_t q_len = q.size(-2), k_len = k.size(-2);
  auto ones = torch::ones({q_len, k_len}, torch::kLong);
  auto causal_mask = ones.tril(k_len - q_len);
  auto mask_linear = ones.tril(-window_size);
  auto mask_window = (causal_mask - mask_linear).view({1, 1, q_len, k_len}).to(torch::kBool);
  mask_linear = mask_linear.view({1, 1, q_len, k_len}).to(torch::kBool);
  auto a_sm = torch::einsum("bhmd,bhnd->bhmn", {q, k}) * std::pow(double(k.size(-1)), -0.5);
  a_sm = a_sm.masked_fill(mask_window.logical_not(), -1e8);
  auto a_sm_max = std::get<0>(a_sm.max(-1, true));
  a_sm = window_factor * torch::exp(a_sm - a_sm_max);
  auto sum_sm = a_sm.sum(-1, true);
  auto a_ln = torch::einsum("bhmd,bhnd->bhmn", {f_q, f_k});
  a_ln = linear_factor * a_ln.masked_fill(mask_linear.logical_not(), 0);
  auto sum_ln = a_ln.sum(-1, true);
  return torch::einsum("bhmn,bhnd->bhmd", {a_sm + a_ln, v}) / (sum_sm + sum_ln);
}

TEST(HybridMixer, MatchesLoLCATsHybridAttentionQuadraticWithItsWeights) {
  torch::manual_seed(21);
  for (bool affine : {false, true}) {
    HybridMixerOptions options;
    options.feature_map = map_options("softmax_split", 2, 4);
    options.window = 3;
    options.affine_attention_factors = affine;
    options.eps = 0;
    HybridMixerImpl mixer(options);
    mixer.to(torch::kDouble);
    perturb(mixer, 0.5);
    // LoLCATs' parameter, shaped as LoLCATs stores it; imported by a reshape, values unchanged.
    const auto lolcats_window_factors = torch::tensor({-2.1972245773362196, 0.7}, kF64).view({1, 2, 1, 1});
    {
      torch::NoGradGuard no_grad;
      mixer.window_factors.copy_(lolcats_window_factors.reshape({2}));
    }
    auto q = torch::randn({2, 2, 9, 4}, kF64), k = torch::randn({2, 2, 9, 4}, kF64);
    auto v = torch::randn({2, 2, 9, 4}, kF64);
    auto f_q = mixer.q_map->forward(q), f_k = mixer.k_map->forward(k);
    // LoLCATs' forward: window_factors = sigmoid(θ), linear_factors = 1 − that (affine) or 1.
    auto wf = torch::sigmoid(lolcats_window_factors);
    torch::Tensor lf = affine ? 1 - wf : torch::ones_like(wf);
    auto want = lolcats_hybrid_quadratic(q, k, f_q, f_k, v, wf, lf, 3);
    AttentionMask causal{torch::Tensor(), true};
    auto got = mixer.forward(q, k, v, causal, {});
    expect_close(got.detach(), want.detach(), kTol, "affine=" + std::to_string(affine));
  }
}

// A hybrid saved before the LoLCATs form (gamma_init in its spec, gamma_logit g: a_i = σ(g) φᵀφ on
// the linear part, exp on the window) loads as the affine form and computes the same weights.
TEST(HybridMixer, OldGammaCheckpointsLoadWithTheSameWeights) {
  nlohmann::json old_spec = {{"kind", "hybrid"}, {"feature_map", "softmax_split"}, {"num_heads", 2},
                             {"head_dim", 4},     {"window", 3},                   {"gamma_init", 0.3},
                             {"eps", 1e-6}};
  const auto options = hybrid_mixer_options(old_spec);
  EXPECT_TRUE(options.affine_attention_factors);
  EXPECT_NEAR(options.init_window_factor, -std::log(0.3), 1e-15);
  HybridMixerImpl mixer(options);
  mixer.to(torch::kDouble);
  torch::manual_seed(5);
  perturb(*mixer.q_map, 0.5);
  const auto g = torch::tensor({0.4, -1.3}, kF64);  // the old trained logits
  auto upgraded = upgrade_hybrid_tensors({{"layers.0.mixer.gamma_logit", g}, {"other", g}});
  ASSERT_EQ(upgraded.count("layers.0.mixer.window_factors"), 1u);
  EXPECT_EQ(upgraded.count("layers.0.mixer.gamma_logit"), 0u);
  EXPECT_TRUE(torch::equal(upgraded.at("other"), g));
  {
    torch::NoGradGuard no_grad;
    mixer.window_factors.copy_(upgraded.at("layers.0.mixer.window_factors"));
  }
  auto q = torch::randn({2, 2, 8, 4}, kF64), k = torch::randn({2, 2, 8, 4}, kF64);
  auto fq = mixer.q_map->forward(q), fk = mixer.k_map->forward(k);
  for (bool causal : {false, true}) {
    auto pad = padding(8);
    // The old formula: 1 on the window, γ = σ(g) on the linear part. The new form divides by
    // Σ + eps/σ(θ) instead of Σ + eps: at most eps·(1/σ(θ) − 1) < 1e-6 apart (padded rows: 0).
    auto want = hybrid_oracle(q, k, fq, fk, torch::ones({2}, kF64), torch::sigmoid(g), pad, causal,
                              3, 1e-6);
    expect_close(mixer.weights(q, k, AttentionMask{pad, causal}).detach(), want, 1e-6,
                 "causal=" + std::to_string(causal));
  }
  old_spec["init_window_factor"] = 0.0;
  EXPECT_THROW(hybrid_mixer_options(old_spec), InputError);
}

TEST(HybridMixer, WindowCoveringTheSequenceIsSoftmaxAttention) {
  HybridMixerOptions options;
  options.feature_map = map_options("softmax_split", 2, 4);
  options.window = 64;
  options.eps = 0.0;
  auto hybrid = std::make_shared<HybridMixerImpl>(options);
  hybrid->to(torch::kDouble);
  auto softmax = make_mixer("softmax");
  auto q = torch::randn({1, 2, 10, 4}, kF64), k = torch::randn({1, 2, 10, 4}, kF64);
  auto v = torch::randn({1, 2, 10, 4}, kF64);
  AttentionMask mask{torch::Tensor(), true};
  EXPECT_LE(max_diff(hybrid->forward(q, k, v, mask, {}), softmax->forward(q, k, v, mask, {})),
            1e-12);
}

TEST(HybridMixer, InsideAttentionForwardBackwardAndProbs) {
  auto attention = make_attention(2);
  HybridMixerOptions options;
  options.feature_map = map_options("softmax_split", 2, 4);
  options.window = 3;
  attention->set_mixer(std::make_shared<HybridMixerImpl>(options));
  attention->to(torch::kDouble);
  auto params = attention->named_parameters();
  EXPECT_NE(params.find("mixer.window_factors"), nullptr);
  EXPECT_NE(params.find("mixer.q_map.weight"), nullptr);
  auto x = torch::randn({2, 9, 8}, kF64);
  Taps taps;
  taps.record(kRecordProbs);
  auto out = attention->forward(x, AttentionMask{padding(9), true}, &taps, 4);
  auto sums = taps.at(4).probs.sum(-1);
  EXPECT_LE(max_diff(sums[0], torch::ones_like(sums[0])), 2e-5);  // Σ/(Σ + eps), Σ ≥ σ(θ) = 0.1
  out.pow(2).sum().backward();
  for (const auto& p : attention->named_parameters())
    EXPECT_GT(p.value().grad().abs().max().item<double>(), 0.0) << p.key();
}

TEST(MixerSpec, RoundTripsThroughMakeMixer) {
  LinearMixerOptions lin;
  lin.feature_map = map_options("performer", 2, 4);
  lin.feature_map.seed = 99;
  lin.chunk = 16;
  lin.eps = 1e-5;
  HybridMixerOptions hyb;
  hyb.feature_map = map_options("exp", 2, 4);
  hyb.window = 5;
  hyb.init_window_factor = 0.7;
  hyb.affine_attention_factors = true;
  std::vector<Mixer> mixers = {std::make_shared<LinearMixerImpl>(lin),
                               std::make_shared<HybridMixerImpl>(hyb), make_mixer("softmax", 0.1)};
  torch::manual_seed(12);
  auto q = torch::randn({1, 2, 6, 4}), k = torch::randn({1, 2, 6, 4});
  auto v = torch::randn({1, 2, 6, 4});
  for (const auto& mixer : mixers) {
    const auto spec = nlohmann::json::parse(mixer->spec().dump());  // through text, as on disk
    auto again = make_mixer(spec);
    EXPECT_EQ(again->kind(), mixer->kind());
    EXPECT_EQ(again->spec(), mixer->spec()) << spec.dump();
    auto a = mixer->named_parameters(), b = again->named_parameters();
    ASSERT_EQ(a.size(), b.size());
    for (const auto& p : a) ASSERT_EQ(b[p.key()].sizes(), p.value().sizes()) << p.key();
    auto ba = mixer->named_buffers(), bb = again->named_buffers();
    for (const auto& p : ba) EXPECT_TRUE(torch::equal(bb[p.key()], p.value())) << p.key();
    mixer->eval();
    again->eval();
    EXPECT_TRUE(torch::allclose(again->forward(q, k, v, AttentionMask{{}, true}, {}),
                                mixer->forward(q, k, v, AttentionMask{{}, true}, {})))
        << spec.dump();
  }
  EXPECT_EQ(make_mixer(nlohmann::json{{"kind", "softmax"}})->kind(), "softmax");
  EXPECT_EQ(mixers[0]->spec()["feature_map"], "performer");
  EXPECT_EQ(mixers[0]->spec()["chunk"], 16);
}

TEST(MixerSpec, RejectsBadSpecs) {
  nlohmann::json spec = {{"kind", "linear"}, {"feature_map", "softmax_split"},
                         {"num_heads", 2},   {"head_dim", 4}};
  EXPECT_EQ(make_mixer(spec)->kind(), "linear");
  auto typo = spec;
  typo["chunck"] = 8;
  EXPECT_NE(error_of([&] { make_mixer(typo); }).find("chunk"), std::string::npos);
  auto no_heads = spec;
  no_heads.erase("num_heads");
  EXPECT_NE(error_of([&] { make_mixer(no_heads); }).find("num_heads"), std::string::npos);
  auto bad_map = spec;
  bad_map["feature_map"] = "nope";
  EXPECT_NE(error_of([&] { make_mixer(bad_map); }).find("softmax_concat"), std::string::npos);
  auto wrong_type = spec;
  wrong_type["head_dim"] = "four";
  EXPECT_NE(error_of([&] { make_mixer(wrong_type); }).find("head_dim"), std::string::npos);
  EXPECT_NE(error_of([] { make_mixer(nlohmann::json{{"kind", "flash"}}); }).find("hybrid"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_mixer("linear"); }).find("spec"), std::string::npos);
  EXPECT_NE(error_of([] { make_mixer("flash"); }).find("known"), std::string::npos);
}

}  // namespace
}  // namespace attnd
