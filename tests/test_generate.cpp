// Incremental decoding and generation: per-mixer decode states against the mixers' own forward,
// the GPT-2 decoder against the full forward at every position (softmax, linear with several
// feature maps, hybrid with a window smaller than the sequence), state memory, sampling against
// hand-computed distributions, greedy generation against a re-run-the-prefix oracle, and the
// tokenizer files.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "attnd/core/error.h"
#include "attnd/data/tokenizer_json.h"
#include "attnd/methods/linearize.h"
#include "attnd/models/generate.h"
#include "attnd/models/gpt2_decoder.h"
#include "attnd/models/registry.h"
#include "attnd/nn/decode_state.h"
#include "attnd/nn/linear_mixer.h"
#include "attnd/nn/sampling.h"
#include "test_utils.h"

namespace attnd {
namespace {

using json = nlohmann::json;
using test::error_of;
using test::expect_close;
using test::TempDir;

constexpr double kTol = 1e-9;  // float64 throughout: the forms differ only in summation order
const auto kF64 = torch::TensorOptions().dtype(torch::kDouble);

json tiny_gpt2(int64_t n_positions = 24, int64_t vocab = 40) {
  return {{"model_type", "gpt2"}, {"vocab_size", vocab}, {"n_positions", n_positions},
          {"n_embd", 16}, {"n_layer", 2}, {"n_head", 2}, {"resid_pdrop", 0.0},
          {"embd_pdrop", 0.0}, {"attn_pdrop", 0.0}};
}

// Larger weights than HF's init so that attention is far from uniform; mixer parameters (feature
// maps, γ) are perturbed around their initialisation. float64, eval mode.
Model tiny_model(const LinearizeSpec* spec, int64_t n_positions = 24, uint64_t seed = 0) {
  torch::manual_seed(seed);
  auto m = create_model(tiny_gpt2(n_positions));
  if (spec) linearize(*m, *spec);
  torch::NoGradGuard no_grad;
  for (auto& p : m->named_parameters()) {
    auto noise = torch::randn_like(p.value()) * 0.3;
    if (p.key().find(".mixer.") != std::string::npos) {
      p.value().add_(noise);
    } else {
      p.value().copy_(noise);
    }
  }
  m->to(torch::kDouble);
  m->eval();
  return m;
}

LinearizeSpec linear_spec(const std::string& map) {
  LinearizeSpec s;
  s.feature_map = map;
  return s;
}

LinearizeSpec hybrid_spec(int64_t window, const std::string& map = "softmax_split") {
  LinearizeSpec s;
  s.mixer = "hybrid";
  s.window = window;
  s.feature_map = map;
  return s;
}

torch::Tensor full_logits(const Model& m, const torch::Tensor& ids) {
  torch::NoGradGuard no_grad;
  ModelInput in;
  in.input_ids = ids;
  return m->forward(in).logits;
}

// Steps through ids [B, N] one token at a time; every step's logits against forward's.
void expect_steps_match_forward(const Model& m, const torch::Tensor& ids, const std::string& what) {
  auto expected = full_logits(m, ids);
  Gpt2Decoder decoder(m);
  for (int64_t t = 0; t < ids.size(1); ++t) {
    auto logits = decoder.step(ids.select(1, t));
    expect_close(logits, expected.select(1, t), kTol, what + " position " + std::to_string(t));
  }
  EXPECT_EQ(decoder.position(), ids.size(1));
}

// Prefill of the first k tokens (all logits), then steps; and a prefill that follows steps.
void expect_prefill_matches_forward(const Model& m, const torch::Tensor& ids, int64_t k,
                                    const std::string& what) {
  auto expected = full_logits(m, ids);
  const int64_t n = ids.size(1);
  Gpt2Decoder decoder(m);
  expect_close(decoder.prefill(ids.narrow(1, 0, k), true), expected.narrow(1, 0, k), kTol,
               what + " prefill");
  for (int64_t t = k; t < n; ++t)
    expect_close(decoder.step(ids.select(1, t)), expected.select(1, t), kTol,
                 what + " step after prefill, position " + std::to_string(t));

  // Steps first, then a prefill on a non-empty state, then steps again.
  decoder.reset();
  const int64_t a = 2, b = std::min<int64_t>(n, a + k);
  for (int64_t t = 0; t < a; ++t) decoder.step(ids.select(1, t));
  expect_close(decoder.prefill(ids.narrow(1, a, b - a), true), expected.narrow(1, a, b - a), kTol,
               what + " prefill after steps");
  for (int64_t t = b; t < n; ++t)
    expect_close(decoder.step(ids.select(1, t)), expected.select(1, t), kTol,
                 what + " step after the second prefill, position " + std::to_string(t));
}

torch::Tensor random_ids(int64_t b, int64_t n, uint64_t seed = 7) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randint(0, 40, {b, n}, gen, torch::TensorOptions().dtype(torch::kLong));
}

// ---- mixers --------------------------------------------------------------------------------

// decode_step row by row against the mixer's own causal forward on random q, k, v.
// Random float64 queries, keys and values [2, 2, n, 8], and the mixer's causal forward on them.
struct CausalCase {
  torch::Tensor q, k, v, expected;
};

CausalCase causal_case(MixerImpl& mixer, int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  CausalCase c;
  c.q = torch::randn({2, 2, n, 8}, kF64);
  c.k = torch::randn({2, 2, n, 8}, kF64);
  c.v = torch::randn({2, 2, n, 8}, kF64);
  AttentionMask causal;
  causal.causal = true;
  torch::NoGradGuard no_grad;
  c.expected = mixer.forward(c.q, c.k, c.v, causal, MixerTap{});
  return c;
}

void expect_mixer_decode_matches_forward(MixerImpl& mixer, const std::string& what) {
  const int64_t n = 13;
  const auto [q, k, v, expected] = causal_case(mixer, n, 3);
  torch::NoGradGuard no_grad;
  auto state = mixer.start_decode();
  for (int64_t t = 0; t < n; ++t) {
    auto y = mixer.decode_step(q.narrow(2, t, 1), k.narrow(2, t, 1), v.narrow(2, t, 1), *state);
    expect_close(y, expected.narrow(2, t, 1), kTol, what + " row " + std::to_string(t));
  }
  EXPECT_EQ(state->tokens(), n);
}

FeatureMapOptions map_options(const std::string& kind) {
  FeatureMapOptions f;
  f.kind = kind;
  f.num_heads = 2;
  f.head_dim = 8;
  f.performer_features = 32;
  return f;
}

TEST(MixerDecode, SoftmaxKvCacheMatchesForward) {
  SoftmaxMixerImpl mixer;
  expect_mixer_decode_matches_forward(mixer, "softmax");
}

TEST(MixerDecode, LinearStateMatchesForwardForEveryPositionFreeMap) {
  for (const auto& kind : feature_map_names()) {
    if (kind == "cosformer") continue;
    LinearMixerOptions o;
    o.feature_map = map_options(kind);
    o.chunk = 4;  // several chunks in forward
    LinearMixerImpl mixer(o);
    mixer.to(torch::kDouble);
    expect_mixer_decode_matches_forward(mixer, "linear/" + kind);
  }
}

TEST(MixerDecode, HybridWindowAndLinearPartsMatchForward) {
  // W = 1: only the new key is softmax; W = 4: both parts; W = 50 > N: softmax only.
  for (int64_t window : {1, 4, 50}) {
    HybridMixerOptions o;
    o.feature_map = map_options("softmax_split");
    o.window = window;
    o.affine_attention_factors = window != 4;  // both of LoLCATs' forms
    HybridMixerImpl mixer(o);
    mixer.to(torch::kDouble);
    {
      torch::NoGradGuard no_grad;
      mixer.window_factors.copy_(torch::tensor({0.4, -1.3}, kF64));
      for (auto& p : mixer.q_map->parameters()) p.add_(0.3 * torch::randn_like(p));
    }
    expect_mixer_decode_matches_forward(mixer, "hybrid W=" + std::to_string(window));
  }
}

TEST(MixerDecode, CosformerIsRefusedWithTheMapsName) {
  LinearMixerOptions o;
  o.feature_map = map_options("cosformer");
  LinearMixerImpl linear(o);
  auto msg = error_of([&] { linear.start_decode(); });
  EXPECT_NE(msg.find("'cosformer'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("length of the whole sequence"), std::string::npos) << msg;
  HybridMixerOptions h;
  h.feature_map = map_options("cosformer");
  HybridMixerImpl hybrid(h);
  EXPECT_NE(error_of([&] { hybrid.start_decode(); }).find("'cosformer'"), std::string::npos);
}

TEST(MixerDecode, WrongStateOrShapeIsAnInputError) {
  SoftmaxMixerImpl softmax;
  LinearMixerOptions o;
  o.feature_map = map_options("elu");
  LinearMixerImpl linear(o);
  auto state = softmax.start_decode();
  auto x = torch::randn({1, 2, 1, 8});
  EXPECT_NE(error_of([&] { linear.decode_step(x, x, x, *state); }).find("another mixer"),
            std::string::npos);
  auto two = torch::randn({1, 2, 2, 8});
  EXPECT_NE(error_of([&] { softmax.decode_step(two, two, two, *state); }).find("one position"),
            std::string::npos);
}

// decode_absorb of the first n − 1 positions, then one decode_step, against the last row of the
// mixer's causal forward over all n: the absorbed positions count as if they had been fed.
void expect_absorbed_context_decodes_as_forward(MixerImpl& mixer, const std::string& what) {
  const int64_t n = 13;
  const auto [q, k, v, all] = causal_case(mixer, n, 4);
  torch::NoGradGuard no_grad;
  auto expected = all.narrow(2, n - 1, 1);
  auto state = mixer.start_decode();
  mixer.decode_absorb(k.narrow(2, 0, n - 1), v.narrow(2, 0, n - 1), *state);
  auto y = mixer.decode_step(q.narrow(2, n - 1, 1), k.narrow(2, n - 1, 1), v.narrow(2, n - 1, 1),
                             *state);
  expect_close(y, expected, kTol, what);
  EXPECT_EQ(state->tokens(), n);
  // Only a fresh state absorbs (the positions would otherwise land after the ones fed).
  EXPECT_NE(error_of([&] { mixer.decode_absorb(k, v, *state); }).find("holds 13 positions"),
            std::string::npos) << what;
}

TEST(MixerDecode, AbsorbedPositionsDecodeAsIfTheyHadBeenFed) {
  SoftmaxMixerImpl softmax;
  expect_absorbed_context_decodes_as_forward(softmax, "softmax");
  for (const std::string kind : {"softmax_split", "elu"}) {
    LinearMixerOptions o;
    o.feature_map = map_options(kind);
    o.chunk = 4;
    LinearMixerImpl linear(o);
    linear.to(torch::kDouble);
    expect_absorbed_context_decodes_as_forward(linear, "linear/" + kind);
  }
  for (int64_t window : {4, 50}) {  // the window overflows into the linear sums; or holds all
    HybridMixerOptions o;
    o.feature_map = map_options("softmax_split");
    o.window = window;
    HybridMixerImpl hybrid(o);
    hybrid.to(torch::kDouble);
    expect_absorbed_context_decodes_as_forward(hybrid, "hybrid W=" + std::to_string(window));
  }
}

TEST(DecodeState, KvCacheKeepsItsContentAcrossGrowth) {
  KvCache cache;
  std::vector<torch::Tensor> ks, vs;
  for (int64_t t = 0; t < 40; ++t) {  // past 16 and 32: two reallocations
    ks.push_back(torch::randn({1, 2, 1, 4}));
    vs.push_back(torch::randn({1, 2, 1, 3}));
    cache.append(ks.back(), vs.back());
  }
  test::expect_tensors_equal(cache.keys(), torch::cat(ks, 2), "keys");
  test::expect_tensors_equal(cache.values(), torch::cat(vs, 2), "values");
  EXPECT_EQ(cache.state_bytes(), 40 * 2 * (4 + 3) * 4);
  EXPECT_GE(cache.allocated_bytes(), cache.state_bytes());
}

// ---- the GPT-2 decoder ----------------------------------------------------------------------

TEST(Gpt2Decoder, SoftmaxStepsEqualForwardAtEveryPosition) {
  auto m = tiny_model(nullptr);
  expect_steps_match_forward(m, random_ids(2, 24), "softmax");
  expect_prefill_matches_forward(m, random_ids(2, 24, 8), 9, "softmax");
}

TEST(Gpt2Decoder, LinearStepsEqualForwardForSeveralFeatureMaps) {
  for (const std::string map : {"softmax_split", "elu", "taylor", "t2r", "performer", "exp"}) {
    auto spec = linear_spec(map);
    // softmax_split over 70 positions: forward's chunked form crosses its 64-token chunk.
    const int64_t n = map == "softmax_split" ? 70 : 20;
    auto m = tiny_model(&spec, n);
    expect_steps_match_forward(m, random_ids(2, n), "linear/" + map);
    expect_prefill_matches_forward(m, random_ids(1, n, 9), n - 5, "linear/" + map);
  }
}

TEST(Gpt2Decoder, HybridStepsEqualForwardWithBothParts) {
  for (int64_t window : {1, 3, 8}) {
    auto spec = hybrid_spec(window);
    auto m = tiny_model(&spec, 20);
    const auto what = "hybrid W=" + std::to_string(window);
    expect_steps_match_forward(m, random_ids(2, 20), what);
    expect_prefill_matches_forward(m, random_ids(2, 20, 10), 11, what);  // 11 > W: ring wraps
    expect_prefill_matches_forward(m, random_ids(1, 20, 11), 2, what);
  }
  auto spec = hybrid_spec(3, "elu");
  expect_steps_match_forward(tiny_model(&spec, 20), random_ids(1, 20), "hybrid/elu");
}

TEST(Gpt2Decoder, MixedLayersAndFloat32) {
  auto spec = linear_spec("softmax_split");
  spec.layers = {1};  // layer 0 stays softmax
  auto m = tiny_model(&spec);
  expect_steps_match_forward(m, random_ids(2, 24), "softmax + linear");
  m->to(torch::kFloat);
  auto ids = random_ids(1, 24);
  auto expected = full_logits(m, ids);
  Gpt2Decoder decoder(m);
  for (int64_t t = 0; t < 24; ++t)
    expect_close(decoder.step(ids.select(1, t)), expected.select(1, t), 2e-5, "float32");
}

TEST(Gpt2Decoder, LinearStateIsFlatSoftmaxCacheGrows) {
  auto ids = random_ids(1, 24);
  auto spec = linear_spec("softmax_split");
  auto hspec = hybrid_spec(4);
  auto linear = tiny_model(&spec), softmax = tiny_model(nullptr), hybrid = tiny_model(&hspec);
  Gpt2Decoder dl(linear), ds(softmax), dh(hybrid);
  std::vector<int64_t> lin, soft, hyb;
  for (int64_t t = 0; t < 24; ++t) {
    dl.step(ids.select(1, t));
    ds.step(ids.select(1, t));
    dh.step(ids.select(1, t));
    lin.push_back(dl.state_bytes()[1]);
    soft.push_back(ds.state_bytes()[1]);
    hyb.push_back(dh.state_bytes()[1]);
  }
  // Linear: S [1, 2, 8, 8] + z [1, 2, 8] in float64 (softmax_split D' = 2 · Dh/2 = 8).
  for (int64_t b : lin) EXPECT_EQ(b, (2 * 8 * 8 + 2 * 8) * 8);
  for (int64_t b : hyb) EXPECT_EQ(b, hyb.front());
  // Softmax: K and V of every position so far: t · 2 heads · (8 + 8) · 8 bytes.
  for (int64_t t = 0; t < 24; ++t) EXPECT_EQ(soft[t], (t + 1) * 2 * 16 * 8);
  EXPECT_EQ(dl.state_bytes().size(), 2u);
}

// A synthetic context of n positions leaves every layer's state as n fed tokens would: the KV
// cache holds n · heads · (Dk + Dv) float64 values, the linear state its fixed size; the next
// step runs at position n.
TEST(Gpt2Decoder, SyntheticContextHasTheStateOfThatManyPositions) {
  auto softmax = tiny_model(nullptr);
  Gpt2Decoder ds(softmax);
  ds.fill_synthetic_context(10, 3);
  EXPECT_EQ(ds.position(), 10);
  for (int64_t bytes : ds.state_bytes()) EXPECT_EQ(bytes, 10 * 2 * (8 + 8) * 8);
  auto logits = ds.step(torch::tensor({5}, torch::kLong));
  EXPECT_EQ(ds.position(), 11);
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
  for (int64_t bytes : ds.state_bytes()) EXPECT_EQ(bytes, 11 * 2 * (8 + 8) * 8);

  auto spec = linear_spec("softmax_split");
  auto linear = tiny_model(&spec);
  Gpt2Decoder dl(linear), fed(linear);
  dl.fill_synthetic_context(10);
  auto ids = random_ids(1, 10);
  for (int64_t t = 0; t < 10; ++t) fed.step(ids.select(1, t));
  EXPECT_EQ(dl.state_bytes(), fed.state_bytes());

  // A fed decoder, or a context that leaves no room, is refused by name.
  EXPECT_NE(error_of([&] { fed.fill_synthetic_context(4); }).find("fresh decoder"),
            std::string::npos);
  Gpt2Decoder fresh(softmax);
  EXPECT_NE(error_of([&] { fresh.fill_synthetic_context(24); }).find("n_positions = 24"),
            std::string::npos);
}

TEST(Gpt2Decoder, ErrorsNameTheLimitTheModelTypeAndTheMap) {
  auto m = tiny_model(nullptr, 6);
  Gpt2Decoder decoder(m);
  decoder.prefill(random_ids(1, 6));
  auto msg = error_of([&] { decoder.step(torch::tensor({1}, torch::kLong)); });
  EXPECT_NE(msg.find("n_positions = 6"), std::string::npos) << msg;
  Gpt2Decoder fresh(m);
  EXPECT_NE(error_of([&] { fresh.prefill(random_ids(1, 7)); }).find("n_positions = 6"),
            std::string::npos);
  EXPECT_NE(error_of([&] { fresh.step(torch::tensor({40}, torch::kLong)); }).find("[0, 40)"),
            std::string::npos);
  fresh.step(torch::tensor({1, 2}, torch::kLong));
  EXPECT_NE(error_of([&] { fresh.step(torch::tensor({1}, torch::kLong)); }).find("batch 2"),
            std::string::npos);

  auto vit = create_model(test::tiny_vit_config());
  msg = error_of([&] { Gpt2Decoder d(vit); });
  EXPECT_NE(msg.find("'vit'"), std::string::npos) << msg;

  auto spec = linear_spec("cosformer");
  auto cos = tiny_model(&spec);
  msg = error_of([&] { Gpt2Decoder d(cos); });
  EXPECT_NE(msg.find("'cosformer'"), std::string::npos) << msg;
}

// ---- sampling ----------------------------------------------------------------------------------

std::vector<double> logits_of(const std::vector<double>& probs) {
  std::vector<double> l;
  for (double p : probs) l.push_back(std::log(p));
  return l;
}

void expect_distribution(const std::vector<double>& got, const std::vector<double>& want,
                         const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << what << " [" << i << "]";
}

TEST(Sampling, GreedyIsArgmaxAndTopKOneIsGreedy) {
  torch::manual_seed(0);
  auto logits = torch::randn({50, 30});
  SamplingOptions greedy;
  greedy.greedy = true;
  SamplingOptions k1;
  k1.top_k = 1;
  k1.temperature = 1.7;
  SamplingOptions t0;
  t0.temperature = 0;  // documented: temperature 0 = greedy
  auto argmax = logits.argmax(-1);
  test::expect_tensors_equal(Sampler(greedy).next(logits), argmax, "greedy");
  test::expect_tensors_equal(Sampler(k1).next(logits), argmax, "top-k 1");
  test::expect_tensors_equal(Sampler(t0).next(logits), argmax, "temperature 0");
}

TEST(Sampling, TopKDrawsOnlyAmongTheKLargest) {
  // Shuffled values: the 4 largest are at 7, 2, 11, 0.
  std::vector<double> logits(12, -1.0);
  logits[7] = 2.0, logits[2] = 1.9, logits[11] = 1.8, logits[0] = 1.7, logits[5] = 1.6;
  SamplingOptions o;
  o.top_k = 4;
  o.seed = 3;
  Sampler sampler(o);
  std::map<int64_t, int> counts;
  for (int i = 0; i < 4000; ++i) counts[sampler.next(logits)]++;
  EXPECT_EQ(counts.size(), 4u);
  for (int64_t id : {7, 2, 11, 0}) EXPECT_GT(counts[id], 600) << id;
  // The distribution is softmax over the kept four.
  auto dist = sampling_distribution(logits, o);
  double z = std::exp(2.0) + std::exp(1.9) + std::exp(1.8) + std::exp(1.7);
  EXPECT_NEAR(dist[7], std::exp(2.0) / z, 1e-12);
  EXPECT_NEAR(dist[0], std::exp(1.7) / z, 1e-12);
  EXPECT_EQ(dist[5], 0.0);
}

TEST(Sampling, TopPKeepsTheSmallestPrefixWithMassAtLeastP) {
  // Probabilities 0.5, 0.3, 0.15, 0.05 at shuffled positions 2, 0, 3, 1.
  auto logits = logits_of({0.3, 0.05, 0.5, 0.15});
  auto with_p = [&](double p) {
    SamplingOptions o;
    o.top_p = p;
    return sampling_distribution(logits, o);
  };
  expect_distribution(with_p(0.4), {0, 0, 1, 0}, "p=0.4: 0.5 alone reaches it");
  expect_distribution(with_p(0.75), {0.3 / 0.8, 0, 0.5 / 0.8, 0}, "p=0.75");
  expect_distribution(with_p(0.9), {0.3 / 0.95, 0, 0.5 / 0.95, 0.15 / 0.95}, "p=0.9");
  expect_distribution(with_p(1.0), {0.3, 0.05, 0.5, 0.15}, "p=1");
  // top-k first, then top-p on the renormalised rest: k=3 → 0.5/.95, 0.3/.95, 0.15/.95;
  // p=0.85 → 0.526 + 0.316 = 0.842 < 0.85, so the third one stays.
  SamplingOptions o;
  o.top_k = 3;
  o.top_p = 0.85;
  expect_distribution(sampling_distribution(logits, o), {0.3 / 0.95, 0, 0.5 / 0.95, 0.15 / 0.95},
                      "k=3 then p=0.85");
}

TEST(Sampling, TemperatureAndFrequencies) {
  auto logits = logits_of({0.5, 0.3, 0.2});
  SamplingOptions o;
  o.temperature = 2.0;
  const double z = std::sqrt(0.5) + std::sqrt(0.3) + std::sqrt(0.2);  // p^(1/T)
  expect_distribution(sampling_distribution(logits, o),
                      {std::sqrt(0.5) / z, std::sqrt(0.3) / z, std::sqrt(0.2) / z}, "T=2");
  o.temperature = 1e-300;  // a tiny T does not overflow: greedy in effect
  expect_distribution(sampling_distribution(logits, o), {1, 0, 0}, "T=1e-300");

  o.temperature = 1.0;
  Sampler sampler(o);
  std::vector<int> counts(3, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) counts[sampler.next(logits)]++;
  EXPECT_NEAR(counts[0] / double(n), 0.5, 0.02);
  EXPECT_NEAR(counts[1] / double(n), 0.3, 0.02);
  EXPECT_NEAR(counts[2] / double(n), 0.2, 0.02);
}

TEST(Sampling, SameSeedSameTokensIndependentOfTorchsRng) {
  std::vector<double> logits(50, 0.0);  // uniform: every draw is up to the generator
  SamplingOptions o;
  o.seed = 42;
  auto draw = [&](uint64_t seed, uint64_t torch_seed) {
    torch::manual_seed(torch_seed);
    o.seed = seed;
    Sampler s(o);
    std::vector<int64_t> out;
    for (int i = 0; i < 100; ++i) out.push_back(s.next(logits));
    return out;
  };
  EXPECT_EQ(draw(42, 0), draw(42, 1));
  EXPECT_NE(draw(42, 0), draw(43, 0));
}

TEST(Sampling, BadOptionsAreInputErrors) {
  auto with = [](auto set) {
    SamplingOptions o;
    set(o);
    return error_of([&] { Sampler s(o); });
  };
  EXPECT_NE(with([](SamplingOptions& o) { o.temperature = -0.5; }).find("temperature"),
            std::string::npos);
  EXPECT_NE(with([](SamplingOptions& o) { o.top_p = 0; }).find("top-p"), std::string::npos);
  EXPECT_NE(with([](SamplingOptions& o) { o.top_p = 1.5; }).find("top-p"), std::string::npos);
  EXPECT_NE(with([](SamplingOptions& o) { o.top_k = -1; }).find("top-k"), std::string::npos);
  EXPECT_EQ(with([](SamplingOptions& o) { o.temperature = 0; }), "NO EXCEPTION");
}

// ---- generation ---------------------------------------------------------------------------------

TEST(Generate, GreedyEqualsRerunningTheFullForward) {
  for (int kind = 0; kind < 3; ++kind) {
    auto lspec = linear_spec("softmax_split");
    auto hspec = hybrid_spec(3);
    auto m = tiny_model(kind == 0 ? nullptr : kind == 1 ? &lspec : &hspec);
    const std::vector<int64_t> prompt = {5, 17, 3, 22};
    // Oracle: the whole sequence through forward for every new token.
    std::vector<int64_t> seq = prompt, expected;
    for (int i = 0; i < 12; ++i) {
      auto logits = full_logits(m, torch::tensor(seq, torch::kLong).unsqueeze(0));
      expected.push_back(logits[0][-1].argmax().item<int64_t>());
      seq.push_back(expected.back());
    }
    Gpt2Decoder decoder(m);
    GenerateOptions o;
    o.max_new_tokens = 12;
    o.sampling.greedy = true;
    auto r = generate(decoder, prompt, o);
    EXPECT_EQ(r.tokens, expected) << kind;
    EXPECT_FALSE(r.stopped);
    // 4 + 12 tokens, the last one never fed: 15 positions.
    EXPECT_EQ(decoder.position(), 15);
    EXPECT_EQ(r.state_bytes_first.size(), 2u);

    // Stop at the first greedy token that did not come before (greedy output repeats itself):
    // the tokens before it come back, the stop token is not among them.
    size_t stop = 1;
    while (stop < expected.size() &&
           std::count(expected.begin(), expected.begin() + stop, expected[stop]) > 0)
      ++stop;
    ASSERT_LT(stop, expected.size()) << kind;
    decoder.reset();
    o.stop_token = expected[stop];
    r = generate(decoder, prompt, o);
    ASSERT_TRUE(r.stopped);
    EXPECT_EQ(r.tokens, std::vector<int64_t>(expected.begin(), expected.begin() + stop)) << kind;
  }
}

TEST(Generate, SeededSamplingRepeatsAndLimitsAreChecked) {
  auto m = tiny_model(nullptr);
  GenerateOptions o;
  o.max_new_tokens = 20;
  o.sampling.top_p = 0.9;
  o.sampling.top_k = 10;
  o.sampling.seed = 5;
  Gpt2Decoder a(m), b(m);
  auto ra = generate(a, {1, 2, 3}, o), rb = generate(b, {1, 2, 3}, o);
  EXPECT_EQ(ra.tokens, rb.tokens);
  EXPECT_EQ(ra.tokens.size(), 20u);
  o.vocab_limit = 5;
  Gpt2Decoder c(m);
  for (int64_t t : generate(c, {1, 2, 3}, o).tokens) EXPECT_LT(t, 5);

  Gpt2Decoder d(m);
  o.max_new_tokens = 23;  // 3 + 22 fed (the last new token is never fed) > 24 positions
  auto msg = error_of([&] { generate(d, {1, 2, 3}, o); });
  EXPECT_NE(msg.find("n_positions = 24"), std::string::npos) << msg;
  o.max_new_tokens = 22;  // exactly 24 positions
  EXPECT_EQ(generate(d, {1, 2, 3}, o).tokens.size(), 22u);
  EXPECT_NE(error_of([&] { generate(d, {1}, o); }).find("reset"), std::string::npos);
  d.reset();
  EXPECT_NE(error_of([&] { generate(d, {}, o); }).find("empty"), std::string::npos);
}

// ---- tokenizer files -----------------------------------------------------------------------

std::vector<std::string> small_vocab() {
  return {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat",
          "##s", "hello", ",", ".", "é"};
}

TEST(TokenizerFiles, TokenizerJsonRoundTrips) {
  TempDir tmp;
  for (bool lower : {true, false}) {
    WordPieceOptions opts;
    opts.lowercase = lower;
    opts.strip_accents = false;
    opts.max_chars_per_word = 17;
    WordPieceTokenizer tok(small_vocab(), opts);
    save_tokenizer_json(tmp / "tokenizer.json", tok);
    auto back = load_tokenizer_json(tmp / "tokenizer.json");
    EXPECT_EQ(back.vocab(), tok.vocab());
    EXPECT_EQ(back.options().lowercase, lower);
    EXPECT_FALSE(back.options().strip_accents);
    EXPECT_EQ(back.options().max_chars_per_word, 17);
    const std::string text = "The cats sat on the mat, hello.";
    EXPECT_EQ(back.encode(text, 0, false), tok.encode(text, 0, false));
    auto j = nlohmann::json::parse(std::ifstream(tmp / "tokenizer.json"));
    EXPECT_EQ(j["model"]["type"], "WordPiece");
    EXPECT_EQ(j["model"]["vocab"]["cat"], 6);
    EXPECT_EQ(j["normalizer"]["type"], "BertNormalizer");
  }
}

TEST(TokenizerFiles, CheckpointLookupAndErrors) {
  TempDir tmp;
  auto msg = error_of([&] { load_checkpoint_tokenizer(tmp.path()); });
  EXPECT_NE(msg.find(tmp.path()), std::string::npos) << msg;
  EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("vocab.txt"), std::string::npos) << msg;

  auto vocab = small_vocab();
  save_vocab(tmp / kVocabFile, vocab);
  EXPECT_EQ(load_checkpoint_tokenizer(tmp.path()).vocab(), vocab);

  // Both files: tokenizer.json is read (tokenizer_json.h's rule; see the report).
  auto swapped = vocab;
  std::swap(swapped[5], swapped[6]);
  save_tokenizer_json(tmp / kTokenizerFile, WordPieceTokenizer(swapped));
  EXPECT_EQ(load_checkpoint_tokenizer(tmp.path()).vocab(), swapped);

  std::ofstream(tmp / "bpe.json") << R"({"model": {"type": "BPE", "vocab": {}}})";
  msg = error_of([&] { load_tokenizer_json(tmp / "bpe.json"); });
  EXPECT_NE(msg.find("WordPiece"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { load_tokenizer_json(tmp / "missing.json"); }).find("missing.json"),
            std::string::npos);
}

}  // namespace
}  // namespace attnd
