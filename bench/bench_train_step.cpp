// One full training step (zero_grad, forward, cross-entropy, backward, AdamW step) of
//  (1) the demo ViT (28×28×1, patch 4, hidden 64, 4 layers, 4 heads), batch 128 — the same model
//      and step as bench/peers/vit_step.py, the plain-PyTorch peer;
//  (2) a small BERT (vocab 8000, hidden 128, 2 layers), batch 32 × 128 tokens.
// Models come from attnd::create_model, i.e. exactly what `attnd train` builds.
//
// Threads: torch::set_num_threads(OMP_NUM_THREADS) when that variable is set (scripts/run-bench
// sets it together with OPENBLAS_NUM_THREADS). ATTND_BENCH_DEVICE=cuda runs on a GPU.
#include <benchmark/benchmark.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "attnd/core/torch_compat.h"
#include "attnd/models/model.h"
#include "bench_common.h"

namespace {

using attnd::bench::median;

constexpr int64_t kVitBatch = 128;

const nlohmann::json kBertConfig = {
    {"model_type", "bert"},           {"vocab_size", 8000},       {"hidden_size", 128},
    {"num_hidden_layers", 2},         {"num_attention_heads", 4}, {"intermediate_size", 512},
    {"max_position_embeddings", 256}, {"num_labels", 2}};
constexpr int64_t kBertBatch = 32;
constexpr int64_t kBertSeq = 128;

// Same optimiser settings as the Python peer (torch.optim.AdamW(lr=1e-3, weight_decay=0.05)).
constexpr double kLr = 1e-3;
constexpr double kWeightDecay = 0.05;
// Untimed steps before timing (the peer's --warmup default).
constexpr int kWarmupSteps = 3;

torch::Device bench_device() {
  const char* env = std::getenv("ATTND_BENCH_DEVICE");
  return torch::Device(env && *env ? env : "cpu");
}

void sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

void run_steps(benchmark::State& state, const nlohmann::json& config,
               const attnd::ModelInput& input, const torch::Tensor& labels,
               const torch::Device& device) {
  auto model = attnd::create_model(config);
  model->to(device);
  model->train();
  torch::optim::AdamW optimizer(model->parameters(),
                                torch::optim::AdamWOptions(kLr).weight_decay(kWeightDecay));
  auto step = [&] {
    optimizer.zero_grad();
    auto logits = model->forward(input).logits;
    auto loss = torch::nn::functional::cross_entropy(logits, labels);
    loss.backward();
    optimizer.step();
    sync(device);
  };
  // Untimed warm-up, as the Python peer: the first steps allocate gradients and AdamW state.
  for (int i = 0; i < kWarmupSteps; ++i) step();
  // Per-step wall times as well as Google Benchmark's mean: on a shared machine the median and
  // the best step say more than the mean (interference only ever adds time).
  // Process CPU time (all threads) as well: on a loaded machine it varies much less than wall time.
  std::vector<double> step_ms, step_cpu_ms;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();
    step();
    step_cpu_ms.push_back(1000.0 * static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC);
    step_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  state.SetItemsProcessed(state.iterations() * input.batch_size());  // examples
  if (!step_ms.empty()) {
    state.counters["step_min_ms"] = *std::min_element(step_ms.begin(), step_ms.end());
    state.counters["step_median_ms"] = median(step_ms);
    state.counters["step_cpu_median_ms"] = median(step_cpu_ms);
  }
}

void BM_TrainStepVit(benchmark::State& state) {
  const auto device = bench_device();
  torch::manual_seed(0);
  attnd::ModelInput input;
  input.pixel_values = torch::rand({kVitBatch, 1, 28, 28}, torch::device(device));
  auto labels = torch::randint(0, 10, {kVitBatch}, torch::device(device).dtype(torch::kLong));
  run_steps(state, attnd::bench::demo_vit_config(), input, labels, device);
}

void BM_TrainStepBert(benchmark::State& state) {
  const auto device = bench_device();
  torch::manual_seed(0);
  attnd::ModelInput input;
  auto longs = torch::device(device).dtype(torch::kLong);
  input.input_ids = torch::randint(0, 8000, {kBertBatch, kBertSeq}, longs);
  input.attention_mask = torch::ones({kBertBatch, kBertSeq}, longs);
  input.token_type_ids = torch::zeros({kBertBatch, kBertSeq}, longs);
  auto labels = torch::randint(0, 2, {kBertBatch}, longs);
  run_steps(state, kBertConfig, input, labels, device);
}

}  // namespace

int main(int argc, char** argv) {
  attnd::bench::apply_thread_setting();
  benchmark::AddCustomContext("device", bench_device().str());
  // ATTND_BENCH_STEPS=n times exactly n steps (scripts/run-bench: as many as the Python peer);
  // otherwise Google Benchmark picks the count from --benchmark_min_time.
  int64_t steps = 0;
  if (const char* env = std::getenv("ATTND_BENCH_STEPS")) steps = std::atoll(env);
  for (auto [name, fn] : {std::pair{"BM_TrainStepVit", &BM_TrainStepVit},
                          std::pair{"BM_TrainStepBert", &BM_TrainStepBert}}) {
    auto* bench = benchmark::RegisterBenchmark(name, fn);
    bench->Unit(benchmark::kMillisecond)->UseRealTime();
    if (steps > 0) bench->Iterations(steps);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
