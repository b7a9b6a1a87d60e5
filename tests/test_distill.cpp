// Distillation losses against hand computation, layer maps, and the distillation task.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "attnd/core/error.h"
#include "attnd/distill/distiller.h"
#include "attnd/distill/losses.h"
#include "attnd/models/model.h"
#include "test_utils.h"

namespace attnd {
namespace {

// −Σ p log softmax(s) for one row, in plain double arithmetic.
double row_soft_ce(const std::vector<double>& p, const std::vector<double>& s,
                   const std::vector<bool>& allowed) {
  double mx = -1e300;
  for (size_t k = 0; k < s.size(); ++k)
    if (allowed[k]) mx = std::max(mx, s[k]);
  double z = 0;
  for (size_t k = 0; k < s.size(); ++k)
    if (allowed[k]) z += std::exp(s[k] - mx);
  double ce = 0;
  for (size_t k = 0; k < s.size(); ++k)
    if (allowed[k]) ce -= p[k] * (s[k] - mx - std::log(z));
  return ce;
}

TEST(DistillLosses, SoftCrossEntropyMatchesHandComputation) {
  // One batch, one head, two queries, three keys.
  std::vector<std::vector<double>> p = {{0.7, 0.2, 0.1}, {0.1, 0.1, 0.8}};
  std::vector<std::vector<double>> s = {{1.0, 2.0, 3.0}, {-1.0, 0.5, 0.0}};
  auto tp = torch::tensor({0.7, 0.2, 0.1, 0.1, 0.1, 0.8}, torch::kDouble).view({1, 1, 2, 3});
  auto ts = torch::tensor({1.0, 2.0, 3.0, -1.0, 0.5, 0.0}, torch::kDouble).view({1, 1, 2, 3});
  const double expected = (row_soft_ce(p[0], s[0], {true, true, true}) +
                           row_soft_ce(p[1], s[1], {true, true, true})) / 2;
  EXPECT_NEAR(attention_soft_ce(tp, ts, {}).item<double>(), expected, 1e-6);
  // From probabilities gives the same number.
  EXPECT_NEAR(attention_soft_ce_from_probs(tp, torch::softmax(ts, -1), {}).item<double>(),
              expected, 1e-6);
}

TEST(DistillLosses, PaddingIsIgnored) {
  // Three tokens, the last one padding: keys 0..1 are allowed, queries 0..1 count.
  AttentionMask mask;
  mask.key_padding = torch::tensor({1, 1, 0}, torch::kLong).view({1, 3});
  auto tp = torch::tensor({0.6, 0.4, 0.0, 0.5, 0.5, 0.0, 0.3, 0.3, 0.4}, torch::kDouble)
                .view({1, 1, 3, 3});
  auto ts = torch::tensor({0.0, 1.0, 50.0, 2.0, 0.0, 50.0, 9.0, 9.0, 9.0}, torch::kDouble)
                .view({1, 1, 3, 3});
  const double expected = (row_soft_ce({0.6, 0.4, 0}, {0, 1, 50}, {true, true, false}) +
                           row_soft_ce({0.5, 0.5, 0}, {2, 0, 50}, {true, true, false})) / 2;
  EXPECT_NEAR(attention_soft_ce(tp, ts, mask).item<double>(), expected, 1e-6);
}

TEST(DistillLosses, KlIsCrossEntropyMinusEntropyAndZeroAtEquality) {
  torch::manual_seed(0);
  auto t_logits = torch::randn({2, 3, 4, 4}, torch::kDouble);
  auto s_logits = torch::randn({2, 3, 4, 4}, torch::kDouble);
  auto p = torch::softmax(t_logits, -1);
  const double ce = attention_soft_ce(p, s_logits, {}).item<double>();
  const double entropy = (-(p * p.log()).sum(-1)).mean().item<double>();
  EXPECT_NEAR(attention_kl(p, s_logits, {}).item<double>(), ce - entropy, 1e-5);
  EXPECT_NEAR(attention_kl(p, t_logits, {}).item<double>(), 0.0, 1e-6);
  EXPECT_GT(attention_kl(p, s_logits, {}).item<double>(), 0.0);
}

TEST(DistillLosses, MseAndHiddenMseByHand) {
  auto a = torch::tensor({0.5, 0.5, 1.0, 0.0}, torch::kDouble).view({1, 1, 2, 2});
  auto b = torch::tensor({1.0, 0.0, 0.5, 0.5}, torch::kDouble).view({1, 1, 2, 2});
  EXPECT_NEAR(attention_mse(a, b, {}).item<double>(), 0.25, 1e-7);
  // hidden: token 1 is padding and must not count
  auto h1 = torch::tensor({1.0, 2.0, 100.0, 100.0}, torch::kDouble).view({1, 2, 2});
  auto h2 = torch::tensor({0.0, 0.0, 0.0, 0.0}, torch::kDouble).view({1, 2, 2});
  auto mask = torch::tensor({1, 0}, torch::kLong).view({1, 2});
  EXPECT_NEAR(hidden_mse(h1, h2, mask).item<double>(), (1.0 + 4.0) / 2, 1e-6);
  EXPECT_NEAR(hidden_mse(h1, h2, {}).item<double>(), (1.0 + 4.0 + 1e4 + 1e4) / 4, 1e-3);
}

TEST(DistillLosses, NadAttentionMatchesAHandLoop) {
  auto teacher = torch::randn({2, 4, 3}, torch::kDouble);
  auto student = torch::randn({2, 4, 3}, torch::kDouble);
  auto mask = torch::tensor({1, 1, 1, 0, 1, 1, 0, 0}, torch::kLong).view({2, 4});
  // a_t = Σ_d h²; zero at padding; divided by the L2 norm over the example's tokens.
  auto attention_of = [&](const torch::Tensor& h, int64_t b) {
    std::vector<double> a(4, 0.0);
    double norm = 0;
    for (int64_t t = 0; t < 4; ++t) {
      if (mask[b][t].item<int64_t>() == 0) continue;
      for (int64_t d = 0; d < 3; ++d) a[t] += std::pow(h[b][t][d].item<double>(), 2);
      norm += a[t] * a[t];
    }
    for (auto& x : a) x /= std::sqrt(norm);
    return a;
  };
  double sum = 0;
  int64_t real = 0;
  for (int64_t b = 0; b < 2; ++b) {
    auto at = attention_of(teacher, b), as = attention_of(student, b);
    for (int64_t t = 0; t < 4; ++t)
      if (mask[b][t].item<int64_t>()) {
        sum += std::pow(at[t] - as[t], 2);
        ++real;
      }
  }
  EXPECT_NEAR(hidden_attention_mse(teacher, student, mask).item<double>(), sum / real, 1e-6);
  EXPECT_NEAR(hidden_attention_mse(teacher, teacher, mask).item<double>(), 0.0, 1e-12);
  // Per example a unit vector over real tokens.
  auto a = hidden_attention(teacher, mask);
  test::expect_close(a.pow(2).sum(-1), torch::ones({2}, torch::kDouble), 1e-6, "unit norm");
  EXPECT_EQ(parse_distill_loss("nad"), DistillLoss::kHiddenAttention);
}

TEST(DistillLosses, ShapeMismatchIsReported) {
  auto a = torch::rand({1, 2, 3, 3});
  auto b = torch::rand({1, 2, 4, 4});
  EXPECT_THROW(attention_soft_ce(a, b, {}), Error);
}

TEST(LayerMap, AutoExplicitAndSkip) {
  using Pairs = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(parse_layer_map("auto", 3, 3), (Pairs{{0, 0}, {1, 1}, {2, 2}}));
  EXPECT_EQ(parse_layer_map("auto", 2, 4), (Pairs{{0, 0}, {1, 3}}));
  EXPECT_EQ(parse_layer_map("auto", 3, 5), (Pairs{{0, 0}, {1, 2}, {2, 4}}));
  EXPECT_EQ(parse_layer_map("auto", 1, 4), (Pairs{{0, 3}}));
  EXPECT_EQ(parse_layer_map("0:1,1:3", 2, 4), (Pairs{{0, 1}, {1, 3}}));
  EXPECT_EQ(parse_layer_map("auto", 4, 4, 1), (Pairs{{0, 0}, {1, 1}, {2, 2}}));
  EXPECT_THROW(parse_layer_map("0-1", 2, 2), InputError);
  EXPECT_THROW(parse_layer_map("0:9", 2, 2), InputError);
  EXPECT_THROW(parse_layer_map("x:1", 2, 2), InputError);
  EXPECT_THROW(parse_layer_map("0:1x", 2, 2), InputError);  // not a prefix read as 1
  EXPECT_THROW(parse_layer_map("0x:1", 2, 2), InputError);
  EXPECT_THROW(parse_distill_loss("l2"), InputError);
}

class DistillTaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(1);
    teacher = create_model(test::tiny_vit_config());
    torch::manual_seed(2);
    student = create_model(test::tiny_vit_config());
  }
  Model teacher, student;
  test::SyntheticImages data{32, 3};
};

TEST_F(DistillTaskTest, TotalIsTaskPlusWeightedAttentionTerms) {
  DistillSpec spec;
  spec.task_weight = 0.5;
  for (int64_t l = 0; l < 2; ++l) spec.terms.push_back({DistillLoss::kAttnSoftCE, l, l, 3.0, {}});
  DistillTask task(teacher, student, spec, &data, 16, torch::kCPU);
  auto batch = data.get({0, 1, 2, 3}, 0);
  auto loss = task.loss(batch);

  // Recompute by hand through taps.
  Taps t, s;
  t.record(kRecordProbs);
  s.record(kRecordLogits);
  torch::NoGradGuard guard;
  teacher->forward(batch.input, &t);
  auto logits = student->forward(batch.input, &s).logits;
  auto ce = torch::nn::functional::cross_entropy(logits, batch.labels).item<double>();
  double expected = 0.5 * ce;
  for (int64_t l = 0; l < 2; ++l)
    expected += 3.0 * attention_soft_ce(t.at(l).probs, s.at(l).logits, {}).item<double>();
  EXPECT_NEAR(loss.total.item<double>(), expected, 1e-5);
  EXPECT_NEAR(loss.parts.at("task"), ce, 1e-6);
}

TEST_F(DistillTaskTest, OnlyTheStudentGetsGradients) {
  DistillSpec spec;
  spec.terms.push_back({DistillLoss::kAttnKL, 1, 1, 1.0, {}});
  spec.terms.push_back({DistillLoss::kHiddenMSE, 0, 0, 1.0, {}});
  DistillTask task(teacher, student, spec, &data, 16, torch::kCPU);
  auto loss = task.loss(data.get({0, 1}, 0));
  loss.total.backward();
  for (const auto& p : teacher->parameters()) {
    EXPECT_FALSE(p.requires_grad());
    EXPECT_FALSE(p.grad().defined());
  }
  int with_grad = 0;
  for (const auto& p : student->parameters()) with_grad += p.grad().defined();
  EXPECT_GT(with_grad, 0);
}

TEST_F(DistillTaskTest, AttentionOnlyDistillationPullsTheStudentTowardsTheTeacher) {
  DistillSpec spec;
  spec.task_weight = 0.0;
  for (int64_t l = 0; l < 2; ++l) spec.terms.push_back({DistillLoss::kAttnKL, l, l, 1.0, {}});
  DistillTask task(teacher, student, spec, &data, 16, torch::kCPU);
  torch::optim::Adam opt(student->parameters(), torch::optim::AdamOptions(1e-2));
  auto batch = data.get({0, 1, 2, 3, 4, 5, 6, 7}, 0);
  const double before = task.loss(batch).total.item<double>();
  for (int i = 0; i < 60; ++i) {
    opt.zero_grad();
    task.loss(batch).total.backward();
    opt.step();
  }
  const double after = task.loss(batch).total.item<double>();
  EXPECT_LT(after, 0.2 * before) << "KL before " << before << ", after " << after;
}

TEST_F(DistillTaskTest, HeadCountMismatchIsAnInputError) {
  auto config = test::tiny_vit_config();
  config["num_attention_heads"] = 4;
  auto other = create_model(config);
  DistillSpec spec;
  spec.terms.push_back({DistillLoss::kAttnSoftCE, 0, 0, 1.0, {}});
  EXPECT_THROW(DistillTask(teacher, other, spec, &data, 16, torch::kCPU), InputError);
}

}  // namespace
}  // namespace attnd
