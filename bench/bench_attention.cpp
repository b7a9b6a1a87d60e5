// Softmax attention forward + backward through attnd's AttentionImpl (ViT layout, hidden 256,
// 4 heads, batch 8) for N = 64 ... 1024, and the same through the mixer alone (q, k, v given).
//
// Threads: torch::set_num_threads(OMP_NUM_THREADS) when that variable is set (scripts/run-bench
// sets it together with OPENBLAS_NUM_THREADS). ATTND_BENCH_DEVICE=cuda runs on a GPU.
#include <benchmark/benchmark.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "attnd/core/torch_compat.h"
#include "attnd/nn/attention.h"
#include "attnd/nn/mixer.h"
#include "bench_common.h"

namespace {

constexpr int64_t kBatch = 8;
constexpr int64_t kHidden = 256;
constexpr int64_t kHeads = 4;

torch::Device bench_device() {
  const char* env = std::getenv("ATTND_BENCH_DEVICE");
  return torch::Device(env && *env ? env : "cpu");
}

// Device work is asynchronous on GPUs: wait for it inside the timed region.
void sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

// Gradients of sum(out · grad_out) w.r.t. `inputs`, without accumulating into .grad: what one
// backward pass costs, and no state carried between iterations.
void backward(const torch::Tensor& out, const torch::Tensor& grad_out,
              const std::vector<torch::Tensor>& inputs) {
  auto grads = torch::autograd::grad({out}, inputs, {grad_out});
  benchmark::DoNotOptimize(grads);
}

void BM_AttentionFwdBwd(benchmark::State& state) {
  const int64_t n = state.range(0);
  const auto device = bench_device();
  torch::manual_seed(0);
  attnd::AttentionOptions options;
  options.hidden_size = kHidden;
  options.num_heads = kHeads;
  options.layout = attnd::AttentionLayout::kVit;
  attnd::Attention attention(options);
  attention->to(device);
  attention->train();
  auto x = torch::randn({kBatch, n, kHidden}, torch::device(device)).requires_grad_(true);
  auto grad_out = torch::randn({kBatch, n, kHidden}, torch::device(device));
  std::vector<torch::Tensor> inputs = attention->parameters();
  inputs.push_back(x);
  const attnd::AttentionMask no_mask;
  auto pass = [&] {
    auto out = attention->forward(x, no_mask, nullptr, 0);
    backward(out, grad_out, inputs);
    sync(device);
  };
  pass();  // untimed: a slow size may be timed on a single iteration, which must not be cold
  for (auto _ : state) pass();
  state.SetItemsProcessed(state.iterations() * kBatch * n);  // tokens
  state.counters["N"] = static_cast<double>(n);
}

void BM_MixerFwdBwd(benchmark::State& state) {
  const int64_t n = state.range(0);
  const int64_t dh = kHidden / kHeads;
  const auto device = bench_device();
  torch::manual_seed(0);
  auto mixer = attnd::make_mixer("softmax");
  mixer->to(device);
  mixer->train();
  auto opts = torch::device(device);
  auto q = torch::randn({kBatch, kHeads, n, dh}, opts).requires_grad_(true);
  auto k = torch::randn({kBatch, kHeads, n, dh}, opts).requires_grad_(true);
  auto v = torch::randn({kBatch, kHeads, n, dh}, opts).requires_grad_(true);
  auto grad_out = torch::randn({kBatch, kHeads, n, dh}, opts);
  const attnd::AttentionMask no_mask;
  const attnd::MixerTap no_tap;
  auto pass = [&] {
    auto out = mixer->forward(q, k, v, no_mask, no_tap);
    backward(out, grad_out, {q, k, v});
    sync(device);
  };
  pass();  // untimed warm-up
  for (auto _ : state) pass();
  state.SetItemsProcessed(state.iterations() * kBatch * n);
  state.counters["N"] = static_cast<double>(n);
}

BENCHMARK(BM_AttentionFwdBwd)
    ->RangeMultiplier(2)
    ->Range(64, 1024)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_MixerFwdBwd)
    ->RangeMultiplier(2)
    ->Range(64, 1024)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  attnd::bench::apply_thread_setting();
  benchmark::AddCustomContext("device", bench_device().str());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
