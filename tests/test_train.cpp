// The trainer: schedule, AdamW and its saved state, resume equality, NaN guard, metrics log.
#include <gtest/gtest.h>

#include <limits>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>

#include "attnd/core/error.h"
#include "attnd/data/sampler.h"
#include "attnd/io/checkpoint.h"
#include "attnd/models/model_io.h"
#include "attnd/train/metrics_log.h"
#include "attnd/train/objectives.h"
#include "attnd/train/optimizer.h"
#include "attnd/train/progress.h"
#include "attnd/train/schedule.h"
#include "attnd/train/trainer.h"
#include "test_utils.h"

namespace attnd {
namespace {

namespace fs = std::filesystem;

TEST(Schedule, WarmupThenCosine) {
  WarmupCosine s{1.0, 4, 14, 0.1};
  EXPECT_DOUBLE_EQ(s(0), 0.25);
  EXPECT_DOUBLE_EQ(s(3), 1.0);
  EXPECT_DOUBLE_EQ(s(4), 1.0);                               // cosine starts at the peak
  EXPECT_NEAR(s(9), 0.1 + 0.9 * 0.5, 1e-12);                 // half way: cos(π/2) = 0
  EXPECT_NEAR(s(14), 0.1, 1e-12);                            // the floor
  EXPECT_NEAR(s(100), 0.1, 1e-12);
  WarmupCosine none{2.0, 0, 10, 0.0};
  EXPECT_DOUBLE_EQ(none(0), 2.0);
}

TEST(NamedAdamW, MatchesTheAdamWFormulaAndSkipsDecayOnVectors) {
  auto w = torch::tensor({{1.0, -2.0}}, torch::kDouble).requires_grad_();
  auto b = torch::tensor({0.5}, torch::kDouble).requires_grad_();
  AdamWConfig c{0.1, 0.5, 0.9, 0.99, 1e-8};
  NamedAdamW opt({{"w", w}, {"b", b}}, c);
  auto gw = torch::tensor({{0.3, -0.1}}, torch::kDouble);
  auto gb = torch::tensor({2.0}, torch::kDouble);
  auto w_ref = w.detach().clone(), b_ref = b.detach().clone();
  auto m_w = torch::zeros_like(w_ref), v_w = torch::zeros_like(w_ref);
  auto m_b = torch::zeros_like(b_ref), v_b = torch::zeros_like(b_ref);
  for (int t = 1; t <= 3; ++t) {
    opt.zero_grad();
    w.mutable_grad() = gw.clone();
    b.mutable_grad() = gb.clone();
    opt.step();
    // Reference: decoupled weight decay (only on the matrix), bias-corrected moments.
    auto update = [&](torch::Tensor& p, torch::Tensor& m, torch::Tensor& v, const torch::Tensor& g,
                      double wd) {
      p = p * (1 - c.lr * wd);
      m = 0.9 * m + 0.1 * g;
      v = 0.99 * v + 0.01 * g * g;
      auto mhat = m / (1 - std::pow(0.9, t));
      auto vhat = v / (1 - std::pow(0.99, t));
      p = p - c.lr * mhat / (vhat.sqrt() + c.eps);
    };
    update(w_ref, m_w, v_w, gw, 0.5);
    update(b_ref, m_b, v_b, gb, 0.0);
    test::expect_close(w.detach(), w_ref, 1e-7, "w at step " + std::to_string(t));
    test::expect_close(b.detach(), b_ref, 1e-7, "b at step " + std::to_string(t));
  }
}

TEST(NamedAdamW, StateRoundTripContinuesIdentically) {
  auto make = [] {
    torch::manual_seed(0);
    return std::make_pair(torch::randn({3, 4}).requires_grad_(), torch::randn({4}).requires_grad_());
  };
  auto [w1, b1] = make();
  auto [w2, b2] = make();
  NamedAdamW a({{"w", w1}, {"b", b1}}, {});
  auto grads = [](int i) { torch::manual_seed(100 + i); return std::make_pair(torch::randn({3, 4}), torch::randn({4})); };
  for (int i = 0; i < 2; ++i) {
    auto [gw, gb] = grads(i);
    a.zero_grad();
    w1.mutable_grad() = gw;
    b1.mutable_grad() = gb;
    a.step();
  }
  {
    torch::NoGradGuard g;
    w2.copy_(w1);
    b2.copy_(b1);
  }
  NamedAdamW b({{"w", w2}, {"b", b2}}, {});
  auto state = a.state();
  EXPECT_EQ(state.at("w.step").item<int64_t>(), 2);
  b.load_state(state, "test");
  auto [gw, gb] = grads(7);
  for (auto* o : {&a, &b}) o->zero_grad();
  w1.mutable_grad() = gw.clone();
  b1.mutable_grad() = gb.clone();
  w2.mutable_grad() = gw.clone();
  b2.mutable_grad() = gb.clone();
  a.step();
  b.step();
  test::expect_tensors_equal(w1.detach(), w2.detach(), "w after resume");
  test::expect_tensors_equal(b1.detach(), b2.detach(), "b after resume");

  auto bad = state;
  bad["w.exp_avg"] = torch::zeros({2, 2});
  EXPECT_THROW(b.load_state(bad, "test"), InputError);
  // exp_avg_sq of one element would broadcast; a .step of two elements or a float is no count.
  for (auto [key, value] : std::vector<std::pair<std::string, torch::Tensor>>{
           {"w.exp_avg_sq", torch::zeros({1})},
           {"w.step", torch::tensor({1, 2}, torch::kLong)},
           {"w.step", torch::tensor(1.5)},
           {"w.step", torch::tensor(-1, torch::kLong)}}) {
    bad = state;
    bad[key] = value;
    EXPECT_THROW(b.load_state(bad, "test"), InputError) << key << " " << value;
  }
}

TrainerOptions small_options(const std::string& dir) {
  TrainerOptions o;
  o.steps = 12;
  o.batch_size = 8;
  o.eval_every = 4;
  o.save_every = 3;
  o.log_every = 1;
  o.warmup_steps = 3;
  o.adamw.lr = 5e-3;
  o.seed = 42;
  o.run_dir = dir;
  o.keep_checkpoints = 10;
  o.progress = Progress::Style::kQuiet;
  return o;
}

TEST(Trainer, ResumedRunEqualsUninterruptedRun) {
  test::TempDir tmp;
  test::SyntheticImages train(64, 3, 1), val(32, 3, 2);
  auto config = test::tiny_vit_config();
  config["hidden_dropout_prob"] = 0.1;  // dropout must replay exactly too

  torch::manual_seed(5);
  auto model_a = create_model(config);
  SupervisedTask task_a(model_a, &val, 16, torch::kCPU);
  auto result_a = Trainer(small_options(tmp / "a"), task_a, train).fit();
  EXPECT_EQ(result_a.steps_done, 12);

  torch::manual_seed(5);
  auto model_b = create_model(config);
  SupervisedTask task_b(model_b, &val, 16, torch::kCPU);
  auto first = small_options(tmp / "b");
  first.stop_after = 7;  // "interrupted" after step 7; last checkpoint is step 7
  auto partial = Trainer(first, task_b, train).fit();
  EXPECT_EQ(partial.steps_done, 7);

  torch::manual_seed(999);  // a fresh process: different global RNG, fresh model
  auto model_c = create_model(config);
  SupervisedTask task_c(model_c, &val, 16, torch::kCPU);
  auto result_c = Trainer(small_options(tmp / "b"), task_c, train).fit(tmp / "b");
  EXPECT_EQ(result_c.steps_done, 12);

  auto a = model_a->state();
  auto c = model_c->state();
  for (const auto& [name, tensor] : a) test::expect_tensors_equal(tensor, c.at(name), name);
  EXPECT_EQ(result_a.best_step, result_c.best_step);
  EXPECT_DOUBLE_EQ(result_a.final_metrics.at("accuracy"), result_c.final_metrics.at("accuracy"));

  // The metrics logs agree line by line (the interrupted run's tail was dropped on resume).
  auto read_lines = [](const std::string& path) {
    std::ifstream in(path);
    std::vector<nlohmann::json> out;
    std::string line;
    while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
    return out;
  };
  auto la = read_lines(tmp / "a/metrics.jsonl");
  auto lc = read_lines(tmp / "b/metrics.jsonl");
  ASSERT_EQ(la.size(), lc.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_EQ(la[i], lc[i]) << "line " << i;
  // The best checkpoint loads and is a complete model.
  auto best = load_model(result_a.best_dir);
  EXPECT_EQ(best->model_type(), "vit");
}

// A task whose loss turns NaN at a given step.
class PoisonedTask : public SupervisedTask {
 public:
  PoisonedTask(Model m, const Dataset* val, int64_t poison_at)
      : SupervisedTask(m, val, 16, torch::kCPU), poison_at_(poison_at) {}
  StepLoss loss(const Batch& batch) override {
    auto out = SupervisedTask::loss(batch);
    if (++calls_ >= poison_at_) out.total = out.total * std::nan("");
    return out;
  }

 private:
  int64_t poison_at_;
  int64_t calls_ = 0;
};

TEST(Trainer, NanLossStopsWithAClearMessageAndKeepsTheLastGoodCheckpoint) {
  test::TempDir tmp;
  test::SyntheticImages train(64, 3, 1), val(32, 3, 2);
  torch::manual_seed(0);
  auto model = create_model(test::tiny_vit_config());
  PoisonedTask task(model, &val, 8);
  auto options = small_options(tmp / "run");
  try {
    Trainer(options, task, train).fit();
    FAIL() << "expected the NaN loss to stop training";
  } catch (const InputError&) {
    FAIL() << "a NaN loss is a runtime failure, not bad input";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("nan"), std::string::npos) << msg;
    EXPECT_NE(msg.find("step 8"), std::string::npos) << msg;
    EXPECT_NE(msg.find("step-0000006"), std::string::npos) << msg;
  }
  auto last = Trainer::latest_checkpoint(tmp / "run");
  EXPECT_NE(last.find("step-0000006"), std::string::npos);
  auto restored = load_model(last);
  for (const auto& [name, t] : restored->state())
    EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
}

// A task whose gradients turn infinite at one call while its loss stays finite: with clipping off,
// that step's AdamW update makes the weights NaN.
class ExplodingGradientTask : public SupervisedTask {
 public:
  ExplodingGradientTask(Model m, const Dataset* val, int64_t explode_at)
      : SupervisedTask(m, val, 16, torch::kCPU), explode_at_(explode_at) {}
  StepLoss loss(const Batch& batch) override {
    if (++calls_ == explode_at_)
      model()->parameters()[0].register_hook(
          [](torch::Tensor g) { return g * std::numeric_limits<float>::infinity(); });
    return SupervisedTask::loss(batch);
  }

 private:
  int64_t explode_at_;
  int64_t calls_ = 0;
};

TEST(Trainer, NonFiniteWeightsAreNeverSavedAndTheNamedCheckpointIsFinite) {
  test::TempDir tmp;
  test::SyntheticImages train(64, 3, 1), val(32, 3, 2);
  torch::manual_seed(0);
  auto model = create_model(test::tiny_vit_config());
  ExplodingGradientTask task(model, &val, 5);
  auto options = small_options(tmp / "run");
  options.clip_grad_norm = 0;
  options.save_every = 1;
  options.keep_checkpoints = 1;  // pruning must still keep the newest finite checkpoint
  std::string message;
  try {
    Trainer(options, task, train).fit();
  } catch (const InputError& e) {
    FAIL() << "diverging weights are a runtime failure, not bad input: " << e.what();
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("non-finite by step 5"), std::string::npos) << message;
  EXPECT_NE(message.find("The last good checkpoint is " + (tmp / "run/checkpoints/step-0000004")),
            std::string::npos)
      << message;
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(tmp / "run/checkpoints"))
    left.push_back(e.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"step-0000004"});
  for (const auto& [name, t] : load_model(tmp / "run/checkpoints/step-0000004")->state())
    EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
}

TEST(Trainer, RejectsBadOptionsAndResumeTargets) {
  test::TempDir tmp;
  test::SyntheticImages train(4, 3, 1);
  auto model = create_model(test::tiny_vit_config());
  SupervisedTask task(model, &train, 4, torch::kCPU);
  auto o = small_options(tmp / "run");
  EXPECT_THROW(Trainer(o, task, train), InputError);  // batch 8 > 4 examples
  o.batch_size = 2;
  EXPECT_THROW(Trainer(o, task, train).fit(tmp / "nowhere"), InputError);
}

TEST(MetricsLog, ResumeDropsLinesAfterTheCheckpoint) {
  test::TempDir tmp;
  const auto path = tmp / "m.jsonl";
  {
    MetricsLog log(path);
    for (int s = 1; s <= 5; ++s) log.write({{"step", s}});
  }
  { std::ofstream(path, std::ios::app) << "{\"step\": 6, \"cut"; }  // a line cut by a crash
  { MetricsLog log(path, 3); log.write({{"step", 4}, {"again", true}}); }
  std::ifstream in(path);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(nlohmann::json::parse(lines[3])["again"], true);
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(Progress::format_duration(5), "0:05");
  EXPECT_EQ(Progress::format_duration(125), "2:05");
  EXPECT_EQ(Progress::format_duration(3725), "1:02:05");
  EXPECT_EQ(Progress::format_duration(NAN), "?");
}

TEST(Objectives, LossesByHand) {
  auto logits = torch::tensor({{2.0, 0.0}, {0.0, 1.0}}, torch::kDouble);
  auto labels = torch::tensor({0, 0}, torch::kLong);
  const double l0 = -std::log(std::exp(2.0) / (std::exp(2.0) + 1.0));
  const double l1 = -std::log(1.0 / (1.0 + std::exp(1.0)));
  EXPECT_NEAR(classification_loss(logits, labels).item<double>(), (l0 + l1) / 2, 1e-6);
  // label smoothing 0.2: 0.8·nll + 0.2·mean(−log p)
  const double u0 = -0.5 * (std::log(std::exp(2.0) / (std::exp(2.0) + 1)) + std::log(1 / (std::exp(2.0) + 1)));
  const double u1 = -0.5 * (std::log(1 / (1 + std::exp(1.0))) + std::log(std::exp(1.0) / (1 + std::exp(1.0))));
  EXPECT_NEAR(classification_loss(logits, labels, 0.2).item<double>(),
              (0.8 * l0 + 0.2 * u0 + 0.8 * l1 + 0.2 * u1) / 2, 1e-6);
  // LM loss: position t predicts t+1; -100 ignored.
  auto lm = torch::zeros({1, 3, 4}, torch::kDouble);
  lm[0][0][2] = 3.0;
  auto ids = torch::tensor({{1, 2, -100}}, torch::kLong);
  const double expected = -std::log(std::exp(3.0) / (std::exp(3.0) + 3.0));
  EXPECT_NEAR(language_model_loss(lm, ids).item<double>(), expected, 1e-6);
}

// ---- data-parallel seams -------------------------------------------------------------------------

// The documented sampler, written out from first principles: epoch e's order is a Fisher-Yates
// shuffle of 0..n-1 by std::mt19937_64 seeded with SplitMix64(seed, e), with unbiased bounded
// draws; step s takes batch positions [(s mod steps_per_epoch)·b, +b) of its epoch's order.
std::vector<int64_t> reference_indices(int64_t n, int64_t batch, uint64_t seed, int64_t step) {
  auto splitmix = [](uint64_t a, uint64_t b) {
    uint64_t z = a + 0x9e3779b97f4a7c15ULL * (b + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  const int64_t per_epoch = n / batch;
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::mt19937_64 rng(splitmix(seed, static_cast<uint64_t>(step / per_epoch)));
  for (size_t i = order.size(); i > 1; --i) {
    const uint64_t bound = i, threshold = (0 - bound) % bound;
    uint64_t r;
    do r = rng(); while (r < threshold);
    std::swap(order[i - 1], order[r % bound]);
  }
  const auto begin = order.begin() + (step % per_epoch) * batch;
  return std::vector<int64_t>(begin, begin + batch);
}

TEST(BatchSampler, OneRankDrawsTheDocumentedIndices) {
  const BatchSampler sampler(103, 10, 7);  // rank 0 of 1 by default
  for (int64_t step : {0, 1, 9, 10, 11, 25}) {  // across epoch boundaries (10 steps per epoch)
    EXPECT_EQ(sampler.indices_for_step(step), reference_indices(103, 10, 7, step)) << step;
  }
  const BatchSampler explicit_one(103, 10, 7, true, 0, 1);
  EXPECT_EQ(explicit_one.indices_for_step(13), reference_indices(103, 10, 7, 13));
  EXPECT_EQ(explicit_one.local_batch_size(), 10);
}

TEST(BatchSampler, RanksTakeDisjointSlicesThatMakeUpTheOneRankBatch) {
  const int64_t n = 103, batch = 10;
  for (uint64_t seed : {0ull, 7ull}) {
    const BatchSampler one(n, batch, seed);
    const BatchSampler r0(n, batch, seed, true, 0, 2), r1(n, batch, seed, true, 1, 2);
    EXPECT_EQ(r0.local_batch_size(), 5);
    EXPECT_EQ(r1.steps_per_epoch(), one.steps_per_epoch());  // the global batch sets the epoch
    for (int64_t step = 0; step < 25; ++step) {
      const auto a = r0.indices_for_step(step), b = r1.indices_for_step(step);
      ASSERT_EQ(a.size(), 5u);
      ASSERT_EQ(b.size(), 5u);
      std::set<int64_t> both(a.begin(), a.end());
      both.insert(b.begin(), b.end());
      EXPECT_EQ(both.size(), 10u) << "step " << step << ": the ranks' slices overlap";
      std::vector<int64_t> joined = a;
      joined.insert(joined.end(), b.begin(), b.end());
      EXPECT_EQ(joined, one.indices_for_step(step)) << "step " << step;
    }
  }
}

TEST(BatchSampler, RejectsBadRanksAndIndivisibleBatches) {
  const auto msg = test::error_of([] { BatchSampler(20, 4, 0, true, 2, 2); });
  EXPECT_NE(msg.find("rank"), std::string::npos) << msg;
  EXPECT_THROW(BatchSampler(20, 4, 0, true, -1, 2), InputError);
  EXPECT_THROW(BatchSampler(20, 4, 0, true, 0, 0), InputError);
  const auto odd = test::error_of([] { BatchSampler(20, 5, 0, true, 0, 2); });
  EXPECT_NE(odd.find("multiple of the world size"), std::string::npos) << odd;
  EXPECT_NO_THROW(BatchSampler(20, 6, 0, true, 2, 3));
}

TEST(Trainer, OnlyTheWriterRankWritesFiles) {
  test::TempDir tmp;
  test::SyntheticImages train(64, 3, 1), val(32, 3, 2);
  torch::manual_seed(0);
  auto model = create_model(test::tiny_vit_config());
  SupervisedTask task(model, &val, 16, torch::kCPU);
  auto options = small_options(tmp / "rank1");
  options.steps = 4;
  options.rank = 1;
  options.world_size = 2;
  Trainer trainer(options, task, train);
  EXPECT_FALSE(trainer.is_writer());
  auto result = trainer.fit();
  EXPECT_EQ(result.steps_done, 4);
  EXPECT_GE(result.best_step, 0);  // it evaluated and kept track, but wrote nothing
  EXPECT_FALSE(fs::exists(tmp / "rank1")) << "rank 1 wrote into its run directory";

  auto bad = small_options(tmp / "bad");
  bad.world_size = 3;  // batch 8 does not split into 3 equal slices
  EXPECT_NE(test::error_of([&] { Trainer(bad, task, train); }).find("train.batch_size"),
            std::string::npos);
  bad.world_size = 2;
  bad.rank = 2;
  EXPECT_THROW(Trainer(bad, task, train), InputError);
}

}  // namespace
}  // namespace attnd
