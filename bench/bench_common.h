// What the bench_*.cpp binaries share: the thread setting, environment knobs, the median of
// repeated timings, and the demo-sized ViT two of them time.
#pragma once

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "attnd/core/torch_compat.h"

namespace attnd::bench {

// torch::set_num_threads(OMP_NUM_THREADS) when that variable is set to a positive count
// (scripts/run-bench sets it; OpenBLAS reads OPENBLAS_NUM_THREADS itself), and the LibTorch
// version and thread count in the benchmark's JSON context.
inline void apply_thread_setting() {
  if (const char* threads = std::getenv("OMP_NUM_THREADS")) {
    const int t = std::atoi(threads);
    if (t > 0) torch::set_num_threads(t);
  }
  benchmark::AddCustomContext("torch_version", attnd::compat::torch_version());
  benchmark::AddCustomContext("torch_threads", std::to_string(torch::get_num_threads()));
}

inline int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : fallback;
}

// A comma-separated list of integers from the environment, or `fallback` (the same format).
inline std::vector<int64_t> env_list(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  std::stringstream in(v && *v ? v : fallback);
  std::vector<int64_t> out;
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::atoll(item.c_str()));
  return out;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// "<what>_median_ms" and "<what>_min_ms" of one benchmark's timings, as counters.
inline void report_times(benchmark::State& state, const std::string& what,
                         const std::vector<double>& ms) {
  if (ms.empty()) return;
  state.counters[what + "_median_ms"] = median(ms);
  state.counters[what + "_min_ms"] = *std::min_element(ms.begin(), ms.end());
}

// The demo-sized ViT of bench_train_step and bench_distributed. Keep in sync with
// bench/peers/vit_step.py.
inline const nlohmann::json& demo_vit_config() {
  static const nlohmann::json config = {{"model_type", "vit"},
                                        {"image_size", 28},
                                        {"patch_size", 4},
                                        {"num_channels", 1},
                                        {"hidden_size", 64},
                                        {"num_hidden_layers", 4},
                                        {"num_attention_heads", 4},
                                        {"intermediate_size", 256},
                                        {"num_labels", 10},
                                        {"hidden_dropout_prob", 0.0},
                                        {"attention_probs_dropout_prob", 0.0},
                                        {"layer_norm_eps", 1e-6}};
  return config;
}

}  // namespace attnd::bench
