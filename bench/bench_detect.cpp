// Inference latency and parameter count of the KS-DETR comparison's two deployed detectors:
// recipes/detect/baseline.toml's model and recipes/detect/ks.toml's model after
// ModelImpl::inference_model() (the teachers dropped) — what `attnd detect train` saves as
// <run>/inference. Eval mode, no annotations (as `attnd detect predict`), one forward pass of a
// batch of ATTND_BENCH_BATCH (default 1) canvases of the recipe's data.image_size.
//
// Rounds are interleaved (baseline r1, ks r1, baseline r2, ...: ATTND_BENCH_ROUNDS, default 5) so
// that a shared machine's load hits both alike; each reports the median and best forward pass and
// the parameter count as counters. The weights are random: latency does not depend on them.
//
// Environment: ATTND_BENCH_RECIPES="<baseline.toml>:<ks.toml>" (default the two recipes, relative
// to the source tree), OMP_NUM_THREADS (torch threads), ATTND_BENCH_DEVICE=cuda for a GPU.
//   OMP_NUM_THREADS=1 build/bench/bench_detect --benchmark_min_time=2
#include <benchmark/benchmark.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "attnd/core/torch_compat.h"
#include "attnd/methods/detect.h"
#include "attnd/models/model.h"
#include "bench_common.h"

#ifndef ATTND_SOURCE_DIR
#define ATTND_SOURCE_DIR "."
#endif

namespace {

using attnd::bench::env_int;

torch::Device bench_device() {
  const char* env = std::getenv("ATTND_BENCH_DEVICE");
  return torch::Device(env && *env ? env : "cpu");
}

struct Detector {
  attnd::Model model;
  int64_t image_size = 128, channels = 1, parameters = 0;
};

// The recipe's model as training builds it (10 Fashion-MNIST classes), then its inference model.
Detector deployed(const std::string& recipe) {
  auto config = attnd::Config::load(attnd::detect_recipe_schema(), recipe);
  auto table = config.table_json("model");
  table["num_labels"] = 10;
  table["num_channels"] = config.get_int("data.channels");
  torch::manual_seed(0);
  auto trained = attnd::create_model(table);
  Detector d;
  auto plain = trained->inference_model();
  d.model = plain ? attnd::Model(plain) : trained;
  d.image_size = config.get_int("data.image_size");
  d.channels = config.get_int("data.channels");
  for (const auto& p : d.model->parameters()) d.parameters += p.numel();
  return d;
}

void forward_passes(benchmark::State& state, const Detector& d) {
  const auto device = bench_device();
  d.model->to(device);
  d.model->eval();
  torch::NoGradGuard no_grad;
  const int64_t batch = env_int("ATTND_BENCH_BATCH", 1);
  attnd::ModelInput input;
  input.pixel_values = torch::randn({batch, d.channels, d.image_size, d.image_size}, torch::device(device));
  input.pixel_mask = torch::ones({batch, d.image_size, d.image_size}, torch::device(device).dtype(torch::kBool));
  auto pass = [&] {
    auto out = d.model->forward(input);
    if (device.is_cuda()) torch::cuda::synchronize();
    benchmark::DoNotOptimize(out.logits);
  };
  for (int i = 0; i < 3; ++i) pass();  // warm-up
  std::vector<double> ms;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    pass();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["parameters"] = static_cast<double>(d.parameters);
  attnd::bench::report_times(state, "pass", ms);
}

}  // namespace

int main(int argc, char** argv) {
  attnd::bench::apply_thread_setting();
  std::string recipes = std::string(ATTND_SOURCE_DIR) + "/recipes/detect/baseline.toml:" +
                        ATTND_SOURCE_DIR + "/recipes/detect/ks.toml";
  if (const char* env = std::getenv("ATTND_BENCH_RECIPES"); env && *env) recipes = env;
  const auto colon = recipes.find(':');
  if (colon == std::string::npos) {
    fprintf(stderr, "ATTND_BENCH_RECIPES must be <baseline.toml>:<ks.toml>\n");
    return 2;
  }
  static Detector base = deployed(recipes.substr(0, colon));
  static Detector ks = deployed(recipes.substr(colon + 1));
  benchmark::AddCustomContext("device", bench_device().str());
  benchmark::AddCustomContext("recipes", recipes);
  const int64_t rounds = std::max<int64_t>(1, env_int("ATTND_BENCH_ROUNDS", 5));
  for (int64_t r = 1; r <= rounds; ++r)
    for (auto* d : {&base, &ks}) {
      const std::string name = std::string(d == &base ? "BM_DetectBaseline" : "BM_DetectKsInference") +
                               "/round:" + std::to_string(r);
      benchmark::RegisterBenchmark(name.c_str(), [d](benchmark::State& s) { forward_passes(s, *d); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
