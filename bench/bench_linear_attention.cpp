// Softmax vs linear attention, one head of d = 64, batch 1 (16k-token softmax then needs a few GB):
//  - BM_CausalSoftmaxFwdBwd / BM_CausalLinearFwdBwd: causal forward + backward for N = 512 ... 16k.
//    Softmax is SoftmaxMixerImpl (explicit probabilities, the distillation path); linear is the
//    chunked kernel (C = 64) on precomputed features φ = 1 + elu (D' = 64), so only the kernel is
//    timed. Counter peak_MiB: the peak RSS (VmHWM) of a fresh child process (this binary
//    re-executed) that builds the inputs and runs one pass; peak_delta_MiB subtracts an idle
//    child's peak (the loaded libraries).
//  - BM_DecodeSoftmax / BM_DecodeLinear: one generated token against a context of 1k ... 64k:
//    softmax over a KV cache of that length vs one recurrent state step (state_KiB counter).
//  - BM_ChunkedForwardGflops (N = 8192) next to BM_MatmulGflops on the kernel's matmul shapes.
//
// Threads: torch::set_num_threads(OMP_NUM_THREADS) when set, as bench_attention.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "attnd/core/torch_compat.h"
#include "attnd/nn/linear_attention.h"
#include "attnd/nn/mixer.h"
#include "bench_common.h"

namespace {

constexpr int64_t kHeads = 1;
constexpr int64_t kDim = 64;
constexpr int64_t kChunk = 64;
constexpr const char* kMemFlag = "--attnd_mem_case=";

torch::Tensor randn(int64_t n, int64_t d = kDim) { return torch::randn({1, kHeads, n, d}); }

// One forward + backward of the case, inputs made once. The gradients are taken with
// autograd::grad (nothing accumulates between passes).
std::function<void()> make_case(const std::string& which, int64_t n) {
  torch::manual_seed(0);
  auto grad_out = randn(n);
  if (which == "softmax") {
    auto mixer = attnd::make_mixer("softmax");
    auto q = randn(n).requires_grad_(true), k = randn(n).requires_grad_(true);
    auto v = randn(n).requires_grad_(true);
    return [=] {
      attnd::AttentionMask mask;
      mask.causal = true;
      auto out = mixer->forward(q, k, v, mask, attnd::MixerTap{});
      auto grads = torch::autograd::grad({out}, {q, k, v}, {grad_out});
      benchmark::DoNotOptimize(grads);
    };
  }
  if (which == "linear") {
    auto fq = (torch::elu(randn(n)) + 1).requires_grad_(true);
    auto fk = (torch::elu(randn(n)) + 1).requires_grad_(true);
    auto v = randn(n).requires_grad_(true);
    return [=] {
      auto out = attnd::linear_attention_causal_chunked(fq, fk, v, {}, kChunk);
      auto grads = torch::autograd::grad({out}, {fq, fk, v}, {grad_out});
      benchmark::DoNotOptimize(grads);
    };
  }
  return [] {};  // "idle": the baseline of the memory counter
}

// This process's peak RSS in MiB: VmHWM belongs to the address space, which exec replaces, so a
// re-executed child reports only its own peak (ru_maxrss would carry the parent's over exec).
double own_peak_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  return -1;
}

// Peak RSS (MiB) of this binary re-executed to run `which` at n, or -1 on failure.
double child_peak_mib(const std::string& which, int64_t n) {
  const auto exe = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string command = "'" + exe + "' " + kMemFlag + which + ":" + std::to_string(n);
  FILE* child = popen(command.c_str(), "r");
  if (!child) return -1;
  char buffer[64] = {0};
  const bool got = std::fgets(buffer, sizeof buffer, child) != nullptr;
  if (pclose(child) != 0 || !got) return -1;
  return std::atof(buffer);
}

void set_memory_counters(benchmark::State& state, const std::string& which, int64_t n) {
  static const double idle = child_peak_mib("idle", 0);
  const double peak = child_peak_mib(which, n);
  state.counters["peak_MiB"] = peak;
  state.counters["peak_delta_MiB"] = peak < 0 ? -1 : peak - idle;
}

void run_fwd_bwd(benchmark::State& state, const std::string& which) {
  const int64_t n = state.range(0);
  auto pass = make_case(which, n);
  pass();  // untimed warm-up: a slow size may be timed on a single iteration
  for (auto _ : state) pass();
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["N"] = static_cast<double>(n);
  set_memory_counters(state, which, n);
}

void BM_CausalSoftmaxFwdBwd(benchmark::State& state) { run_fwd_bwd(state, "softmax"); }
void BM_CausalLinearFwdBwd(benchmark::State& state) { run_fwd_bwd(state, "linear"); }

// One new token against `context` cached keys and values (the cache itself is not grown: its
// append is a copy of one row).
void BM_DecodeSoftmax(benchmark::State& state) {
  const int64_t context = state.range(0);
  torch::InferenceMode guard;
  torch::manual_seed(0);
  auto keys = randn(context), values = randn(context), q = randn(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(kDim));
  auto step = [&] {
    auto probs = torch::softmax(torch::matmul(q, keys.transpose(-1, -2)) * scale, -1);
    benchmark::DoNotOptimize(torch::matmul(probs, values));
  };
  step();
  for (auto _ : state) step();
  state.counters["context"] = static_cast<double>(context);
  state.counters["state_KiB"] = 2.0 * kHeads * context * kDim * 4 / 1024;
}

void BM_DecodeLinear(benchmark::State& state) {
  const int64_t context = state.range(0);
  torch::InferenceMode guard;
  torch::manual_seed(0);
  // The state after `context` tokens (its size does not depend on it).
  auto fk_all = torch::elu(randn(context)) + 1;
  attnd::LinearAttentionState s;
  s.S = torch::matmul(fk_all.transpose(-1, -2), randn(context));
  s.z = fk_all.sum(2);
  s.tokens = context;
  auto fq = torch::elu(randn(1)) + 1, fk = torch::elu(randn(1)) + 1, v = randn(1);
  s.step(fq, fk, v);
  for (auto _ : state) benchmark::DoNotOptimize(s.step(fq, fk, v));
  state.counters["context"] = static_cast<double>(context);
  state.counters["state_KiB"] = static_cast<double>(s.S.numel() + s.z.numel()) * 4 / 1024;
}

// Matmul FLOPs of the chunked forward, counted as computed (the masked half of each C×C block
// included): per token 2C(D' + Dv + 1) for the intra-chunk products and 4·D'(Dv + 1) for the
// chunk state and the query·state product.
double chunked_forward_flops(int64_t n, int64_t c, int64_t d, int64_t dv) {
  const int64_t padded = (n + c - 1) / c * c;
  return static_cast<double>(padded) * (2.0 * c * (d + dv + 1) + 4.0 * d * (dv + 1));
}

void BM_ChunkedForwardGflops(benchmark::State& state) {
  const int64_t n = state.range(0);
  torch::InferenceMode guard;
  torch::manual_seed(0);
  auto fq = torch::elu(randn(n)) + 1, fk = torch::elu(randn(n)) + 1, v = randn(n);
  auto pass = [&] {
    benchmark::DoNotOptimize(attnd::linear_attention_causal_chunked(fq, fk, v, {}, kChunk));
  };
  pass();
  for (auto _ : state) pass();
  const double flops = chunked_forward_flops(n, kChunk, kDim, kDim) * kHeads;
  state.counters["GFLOPS"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["N"] = static_cast<double>(n);
}

// Plain torch::matmul on shapes the kernel uses: args (batch, m, k, n).
void BM_MatmulGflops(benchmark::State& state) {
  const int64_t b = state.range(0), m = state.range(1), k = state.range(2), n = state.range(3);
  torch::InferenceMode guard;
  torch::manual_seed(0);
  auto x = torch::randn({b, m, k}), y = torch::randn({b, k, n});
  auto pass = [&] { benchmark::DoNotOptimize(torch::matmul(x, y)); };
  pass();
  for (auto _ : state) pass();
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * b * m * k * n * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_CausalSoftmaxFwdBwd)
    ->RangeMultiplier(2)
    ->Range(512, 16384)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_CausalLinearFwdBwd)
    ->RangeMultiplier(2)
    ->Range(512, 16384)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_DecodeSoftmax)
    ->RangeMultiplier(4)
    ->Range(1024, 65536)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(BM_DecodeLinear)
    ->RangeMultiplier(4)
    ->Range(1024, 65536)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(BM_ChunkedForwardGflops)->Arg(8192)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MatmulGflops)
    ->Args({8192 / kChunk, kChunk, kDim, kChunk})    // Q_t K_tᵀ
    ->Args({8192 / kChunk, kChunk, kChunk, kDim + 1})  // tril(·) V_t
    ->Args({8192 / kChunk, kDim, kChunk, kDim + 1})    // K_tᵀ V_t
    ->Args({1, 8192, kDim, kDim + 1})                  // one flat [N, D'] × [D', Dv + 1]
    ->Args({1, 1024, 1024, 1024})                      // a large square product
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The child of child_peak_mib: "--attnd_mem_case=<which>:<n>".
int run_memory_case(const char* arg) {
  const std::string spec = arg + std::strlen(kMemFlag);
  const auto colon = spec.find(':');
  if (colon == std::string::npos) return 2;
  auto pass = make_case(spec.substr(0, colon), std::stoll(spec.substr(colon + 1)));
  pass();
  std::printf("%.3f\n", own_peak_mib());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  attnd::bench::apply_thread_setting();
  if (argc == 2 && std::strncmp(argv[1], kMemFlag, std::strlen(kMemFlag)) == 0)
    return run_memory_case(argv[1]);
  benchmark::AddCustomContext("heads_dim_chunk", "1 x 64, C = 64");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
