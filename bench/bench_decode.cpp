// Decoding through a whole GPT-2 on the `attnd generate` path (Gpt2Decoder::step, batch 1): time
// per token and state bytes of a softmax model (KV cache), its Hedgehog conversion (linear
// attention, softmax_split feature map) and the LoLCATs hybrid (window 64 + linear), at contexts
// 1k … 64k.
//
// The context is synthetic (Gpt2Decoder::fill_synthetic_context: random keys and values in every
// layer's state), so the softmax model reaches 64k positions without an O(n²) prefill; the steps
// after it cost what they cost at that context (same shapes, same state sizes). Weights are
// random: the time of a step does not depend on them. Two warm-up steps come first (the KV cache
// doubles its buffers on the first step past a power of two).
//
// Rounds are interleaved (each round runs every context × variant once: ATTND_BENCH_ROUNDS,
// default 3) so that a shared machine's load hits all alike. Each benchmark runs
// ATTND_BENCH_TOKENS steps (default 32) and reports their median and best ms per token, and the
// state bytes summed over layers after the context.
// Model: ATTND_BENCH_GPT="n_layer,n_embd,n_head,vocab" (default 4,256,4,8000);
// contexts: ATTND_BENCH_CONTEXTS (default 1024,4096,16384,65536).
//   OMP_NUM_THREADS=1 build/bench/bench_decode --benchmark_format=json
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "attnd/core/torch_compat.h"
#include "attnd/methods/linearize_surgery.h"
#include "attnd/models/gpt2_decoder.h"
#include "attnd/models/registry.h"
#include "bench_common.h"

namespace {

using attnd::bench::env_int;
using attnd::bench::env_list;

struct Variant {
  std::string name;
  attnd::Model model;
};

// One softmax GPT-2 and its two conversions; the same weights outside the mixers.
std::vector<Variant> variants(int64_t max_context) {
  const auto shape = env_list("ATTND_BENCH_GPT", "4,256,4,8000");
  const nlohmann::json config = {{"model_type", "gpt2"},      {"n_layer", shape.at(0)},
                                 {"n_embd", shape.at(1)},     {"n_head", shape.at(2)},
                                 {"vocab_size", shape.at(3)}, {"n_positions", max_context + 256},
                                 {"resid_pdrop", 0.0},        {"embd_pdrop", 0.0},
                                 {"attn_pdrop", 0.0}};
  std::vector<Variant> out;
  for (const std::string name : {"softmax", "hedgehog", "hybrid"}) {
    torch::manual_seed(0);
    auto model = attnd::create_model(config);
    if (name != "softmax") {
      attnd::LinearizeSpec spec;
      spec.mixer = name == "hybrid" ? "hybrid" : "linear";
      spec.feature_map = "softmax_split";
      spec.window = 64;
      attnd::linearize(*model, spec);
    }
    model->eval();
    out.push_back({name, model});
  }
  return out;
}

void decode_steps(benchmark::State& state, const Variant& variant, int64_t context) {
  torch::NoGradGuard no_grad;
  attnd::Gpt2Decoder decoder(variant.model);
  decoder.fill_synthetic_context(context, /*seed=*/1);
  int64_t bytes = 0;
  for (int64_t b : decoder.state_bytes()) bytes += b;
  auto token = torch::tensor({7}, torch::kLong);
  for (int i = 0; i < 2; ++i) benchmark::DoNotOptimize(decoder.step(token));  // warm-up
  std::vector<double> ms;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(decoder.step(token));
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["context"] = static_cast<double>(context);
  state.counters["state_bytes"] = static_cast<double>(bytes);
  attnd::bench::report_times(state, "token", ms);
}

}  // namespace

int main(int argc, char** argv) {
  attnd::bench::apply_thread_setting();
  const auto contexts = env_list("ATTND_BENCH_CONTEXTS", "1024,4096,16384,65536");
  const int64_t max_context = *std::max_element(contexts.begin(), contexts.end());
  static const std::vector<Variant> models = variants(max_context);
  const int64_t tokens = std::max<int64_t>(1, env_int("ATTND_BENCH_TOKENS", 32));
  const int64_t rounds = std::max<int64_t>(1, env_int("ATTND_BENCH_ROUNDS", 3));
  benchmark::AddCustomContext("gpt", models.front().model->config_json().dump());
  for (int64_t r = 1; r <= rounds; ++r)
    for (int64_t context : contexts)
      for (const auto& v : models) {
        const std::string name = "BM_Decode/" + v.name + "/context:" + std::to_string(context) +
                                 "/round:" + std::to_string(r);
        const Variant* variant = &v;
        benchmark::RegisterBenchmark(name.c_str(), [variant, context](benchmark::State& s) {
          decode_steps(s, *variant, context);
        })
            ->Iterations(tokens)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
