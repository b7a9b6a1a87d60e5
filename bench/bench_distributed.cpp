// Data parallel's communication cost on this machine:
//  BM_GlooAllReduce/n  ProcessGroup::all_reduce_sum of n floats between two ranks over Gloo on
//                      loopback TCP (rank 1 is a thread of this process with its own TCPStore
//                      client and Gloo group, so the bytes really cross the loopback device);
//  BM_Memcpy/n         std::memcpy of the same n floats: the machine's memory bandwidth, the
//                      ceiling a local all-reduce could approach.
//  BM_TrainStep/ranks  one training step of the demo ViT (bench_train_step's, 28×28×1, hidden
//                      64, 4 layers) on a global batch of 128: ranks:1 alone, ranks:2 two ranks
//                      of 64 each with the gradient all-reduce of the trainer
//                      (all_reduce_gradients); steps per second and scaling efficiency follow
//                      from the two times.
// bytes_per_second is the buffer's size per operation (nccl-tests' "algbw"). A ring all-reduce of
// two ranks sends and receives each byte once per rank.
//
// Threads: torch::set_num_threads(OMP_NUM_THREADS) when set. Gloo adds two threads per rank;
// on a 2-core machine both ranks' threads share the cores with the benchmark.
#include <benchmark/benchmark.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "attnd/core/torch_compat.h"
#include "attnd/models/model.h"
#include "attnd/train/distributed.h"
#include "bench_common.h"

namespace {

constexpr int64_t kBatch = 8;        // all-reduces per command, so commands cost little
constexpr int64_t kStepBatch = 4;    // training steps per command
constexpr int64_t kGlobalBatch = 128;


// One rank's model, optimiser and share of the batch. Built on the main thread: the two ranks'
// threads share torch's global generator.
struct Replica {
  explicit Replica(int64_t batch) : model(attnd::create_model(attnd::bench::demo_vit_config())) {
    model->train();
    optimizer = std::make_unique<torch::optim::AdamW>(
        model->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(0.05));
    input.pixel_values = torch::rand({batch, 1, 28, 28});
    labels = torch::randint(0, 10, {batch}, torch::kLong);
  }
  // zero_grad, forward, cross-entropy, backward, the all-reduce when in a group, AdamW.
  void step(attnd::ProcessGroup* group) {
    optimizer->zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(input).logits, labels);
    loss.backward();
    if (group) attnd::all_reduce_gradients(*group, model->parameters());
    optimizer->step();
  }
  attnd::Model model;
  std::unique_ptr<torch::optim::AdamW> optimizer;
  attnd::ModelInput input;
  torch::Tensor labels;
};

// Two ranks: rank 0 is the benchmark's thread, rank 1 a thread that follows its commands (a
// broadcast of [floats, count]: that many all-reduces of that many floats; floats = -1: that many
// training steps of its replica; floats = 0 ends it).
class Pair {
 public:
  Pair() : replica0_(kGlobalBatch / 2), replica1_(kGlobalBatch / 2) {
    const int port = attnd::free_loopback_port();
    peer_ = std::thread([this, port] {
      attnd::ProcessGroup group(spec(1, port));
      for (;;) {
        auto command = torch::zeros({2}, torch::kLong);
        group.broadcast({command});
        const int64_t floats = command[0].item<int64_t>();
        const int64_t count = command[1].item<int64_t>();
        if (floats == 0) return;
        if (floats < 0) {
          for (int64_t i = 0; i < count; ++i) replica1_.step(&group);
          continue;
        }
        auto buffer = torch::ones({floats});
        for (int64_t i = 0; i < count; ++i) group.all_reduce_sum({buffer});
      }
    });
    rank0_ = std::make_unique<attnd::ProcessGroup>(spec(0, port));
  }
  ~Pair() {
    command(0, 0);
    peer_.join();
  }
  void command(int64_t floats, int64_t count) {
    rank0_->broadcast({torch::tensor({floats, count}, torch::kLong)});
  }
  attnd::ProcessGroup& rank0() { return *rank0_; }
  Replica& replica0() { return replica0_; }

 private:
  static attnd::WorldSpec spec(int64_t rank, int port) {
    attnd::WorldSpec s;
    s.rank = rank;
    s.world_size = 2;
    s.master_port = port;
    s.timeout = std::chrono::seconds(60);
    return s;
  }
  Replica replica0_, replica1_;
  std::thread peer_;
  std::unique_ptr<attnd::ProcessGroup> rank0_;
};

Pair* pair = nullptr;

void BM_GlooAllReduce(benchmark::State& state) {
  const int64_t floats = state.range(0);
  auto buffer = torch::ones({floats});
  while (state.KeepRunningBatch(kBatch)) {
    pair->command(floats, kBatch);
    for (int64_t i = 0; i < kBatch; ++i) pair->rank0().all_reduce_sum({buffer});
  }
  state.SetBytesProcessed(state.iterations() * floats * static_cast<int64_t>(sizeof(float)));
}

void BM_Memcpy(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0)) * sizeof(float);
  std::vector<char> from(bytes, 1), to(bytes, 0);
  for (auto _ : state) {
    std::memcpy(to.data(), from.data(), bytes);
    benchmark::DoNotOptimize(to.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

void BM_TrainStep(benchmark::State& state) {
  if (state.range(0) == 1) {
    Replica alone(kGlobalBatch);
    for (auto _ : state) alone.step(nullptr);
  } else {
    while (state.KeepRunningBatch(kStepBatch)) {
      pair->command(-1, kStepBatch);
      for (int64_t i = 0; i < kStepBatch; ++i) pair->replica0().step(&pair->rank0());
    }
  }
  state.SetItemsProcessed(state.iterations() * kGlobalBatch);  // examples
  state.counters["steps_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void sizes(benchmark::internal::Benchmark* b) {
  for (int64_t floats : {int64_t{1} << 10, int64_t{1} << 14, int64_t{1} << 18, int64_t{1} << 22,
                         int64_t{1} << 24})
    b->Arg(floats);  // 4 KiB .. 64 MiB
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_GlooAllReduce)->Apply(sizes);
BENCHMARK(BM_Memcpy)->Apply(sizes);
BENCHMARK(BM_TrainStep)->ArgName("ranks")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  attnd::bench::apply_thread_setting();
  benchmark::AddCustomContext("ranks", "2 (threads of one process, Gloo over loopback TCP)");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  pair = new Pair();
  benchmark::RunSpecifiedBenchmarks();
  delete pair;
  benchmark::Shutdown();
  return 0;
}
