// Data parallel's communication cost on this machine:
//  BM_GlooAllReduce/n  ProcessGroup::all_reduce_sum of n floats between two ranks over Gloo on
//                      loopback TCP (rank 1 is a thread of this process with its own TCPStore
//                      client and Gloo group, so the bytes really cross the loopback device);
//  BM_Memcpy/n         std::memcpy of the same n floats: the machine's memory bandwidth, the
//                      ceiling a local all-reduce could approach.
// bytes_per_second is the buffer's size per operation (nccl-tests' "algbw"). A ring all-reduce of
// two ranks sends and receives each byte once per rank.
//
// Threads: torch::set_num_threads(OMP_NUM_THREADS) when set. Gloo adds two threads per rank;
// on a 2-core machine both ranks' threads share the cores with the benchmark.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "attnd/core/torch_compat.h"
#include "attnd/train/distributed.h"

namespace {

constexpr int64_t kBatch = 8;  // all-reduces per command, so commands cost little

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Two ranks: rank 0 is the benchmark's thread, rank 1 a thread that follows its commands (a
// broadcast of [floats, count]: that many all-reduces of that size; floats = 0 ends it).
class Pair {
 public:
  Pair() {
    const int port = free_port();
    peer_ = std::thread([port] {
      attnd::ProcessGroup group(spec(1, port));
      for (;;) {
        auto command = torch::zeros({2}, torch::kLong);
        group.broadcast({command});
        const int64_t floats = command[0].item<int64_t>();
        if (floats == 0) return;
        auto buffer = torch::ones({floats});
        for (int64_t i = 0; i < command[1].item<int64_t>(); ++i) group.all_reduce_sum({buffer});
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

 private:
  static attnd::WorldSpec spec(int64_t rank, int port) {
    attnd::WorldSpec s;
    s.rank = rank;
    s.world_size = 2;
    s.master_port = port;
    s.timeout = std::chrono::seconds(60);
    return s;
  }
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

void sizes(benchmark::internal::Benchmark* b) {
  for (int64_t floats : {int64_t{1} << 10, int64_t{1} << 14, int64_t{1} << 18, int64_t{1} << 22,
                         int64_t{1} << 24})
    b->Arg(floats);  // 4 KiB .. 64 MiB
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_GlooAllReduce)->Apply(sizes);
BENCHMARK(BM_Memcpy)->Apply(sizes);

}  // namespace

int main(int argc, char** argv) {
  if (const char* threads = std::getenv("OMP_NUM_THREADS")) {
    const int t = std::atoi(threads);
    if (t > 0) torch::set_num_threads(t);
  }
  benchmark::AddCustomContext("torch_version", attnd::compat::torch_version());
  benchmark::AddCustomContext("torch_threads", std::to_string(torch::get_num_threads()));
  benchmark::AddCustomContext("ranks", "2 (threads of one process, Gloo over loopback TCP)");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  pair = new Pair();
  benchmark::RunSpecifiedBenchmarks();
  delete pair;
  benchmark::Shutdown();
  return 0;
}
