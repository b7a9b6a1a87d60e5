// c10d's Gloo process group is declared only under USE_C10D_GLOO (CMakeLists.txt defines it for
// this file, and so does this file itself for builds that do not; the symbols are in
// libtorch_cpu, the headers need Debian's libgloo-dev).
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include "attnd/train/distributed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

// A LibTorch shipped without Gloo's headers (some pip wheels) still builds attnd: the group then
// refuses to start, saying why.
#if __has_include(<gloo/context.h>)
#define ATTND_HAVE_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#else
#define ATTND_HAVE_GLOO 0
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef ATTND_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/torch.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>

#include "attnd/core/error.h"
#include "attnd/core/parse_number.h"
#include "attnd/core/torch_compat.h"

namespace attnd {

namespace {

// What ProcessGroupGloo (and NCCL's) derive from, whose collectives the group calls.
#if ATTND_C10D_GROUPS_ARE_BACKENDS
using Collectives = ::c10d::Backend;
#else
using Collectives = ::c10d::ProcessGroup;
#endif

const char* env(const char* name) {
  const char* value = std::getenv(name);
  return value && *value ? value : nullptr;
}

int64_t env_int(const char* name, int64_t low, int64_t high, const std::string& expected) {
  const char* text = env(name);
  const auto value = text ? to_int64(text) : std::nullopt;
  ATTND_CHECK_INPUT(value && *value >= low && *value <= high, "the environment variable ", name,
                    text ? std::string(" = '") + text + "'" : std::string(" is not set; it"),
                    text ? " is not " : " should be ", expected);
  return *value;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// The first line of a c10d or Gloo message: the rest is a C++ backtrace.
std::string first_line(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string text = c10 ? c10->what_without_backtrace() : e.what();
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

std::string seconds(std::chrono::milliseconds t) {
  return std::to_string(t.count() / 1000) + " s";
}

#if ATTND_HAVE_GLOO
std::shared_ptr<::gloo::transport::Device> gloo_device(const WorldSpec& spec) {
  // GLOO_SOCKET_IFNAME is torch.distributed's knob for machines with several interfaces.
  if (const char* ifname = env("GLOO_SOCKET_IFNAME"))
    return ::c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (is_loopback(spec.master_addr))
    return ::c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return ::c10d::ProcessGroupGloo::createDefaultDevice();
}
#endif

// Runs of consecutive tensors of one dtype and device, each run at most bucket_bytes (a larger
// tensor alone): the same runs on every rank, since every rank passes the same tensors.
std::vector<std::vector<size_t>> buckets_of(const std::vector<torch::Tensor>& tensors,
                                            int64_t bucket_bytes) {
  std::vector<std::vector<size_t>> buckets;
  int64_t bytes = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    const int64_t size = t.numel() * static_cast<int64_t>(t.element_size());
    const bool joins = !buckets.empty() && bytes + size <= bucket_bytes &&
                       tensors[buckets.back().front()].scalar_type() == t.scalar_type() &&
                       tensors[buckets.back().front()].device() == t.device();
    if (!joins) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(i);
    bytes += size;
  }
  return buckets;
}

}  // namespace

std::optional<WorldSpec> world_from_environment() {
  if (!env("WORLD_SIZE")) return std::nullopt;
  WorldSpec spec;
  spec.world_size = env_int("WORLD_SIZE", 1, 1 << 20, "a positive integer (the number of ranks)");
  if (spec.world_size == 1 && !env("RANK")) return spec;
  spec.rank = env_int("RANK", 0, spec.world_size - 1,
                      "this process's rank: an integer in [0, WORLD_SIZE = " +
                          std::to_string(spec.world_size) + ")");
  spec.local_rank = env("LOCAL_RANK") ? env_int("LOCAL_RANK", 0, 1 << 20, "an integer >= 0")
                                      : spec.rank;
  if (spec.world_size > 1) {
    const char* addr = env("MASTER_ADDR");
    ATTND_CHECK_INPUT(addr, "the environment variable MASTER_ADDR is not set; it should be the "
                      "host name or address of rank 0 (e.g. 127.0.0.1 on one machine)");
    spec.master_addr = addr;
    spec.master_port = env_int("MASTER_PORT", 1, 65535, "a TCP port in [1, 65535] on rank 0's host");
  }
  if (const char* text = env(kTimeoutVariable)) {
    const auto s = to_double(text);
    ATTND_CHECK_INPUT(s && *s > 0 && *s <= 86400, "the environment variable ", kTimeoutVariable,
                      " = '", text, "' is not a number of seconds in (0, 86400]");
    spec.timeout = std::chrono::milliseconds(static_cast<int64_t>(*s * 1000));
  }
  if (const char* backend = env(kBackendVariable)) spec.backend = backend;
  ATTND_CHECK_INPUT(spec.backend == "gloo" || spec.backend == "nccl", "the environment variable ",
                    kBackendVariable, " = '", spec.backend, "' is not one of gloo, nccl");
  return spec;
}

struct ProcessGroup::Impl {
  c10::intrusive_ptr<::c10d::Store> store;
  c10::intrusive_ptr<Collectives> group;
#if ATTND_HAVE_GLOO
  ::c10d::ProcessGroupGloo* gloo = nullptr;  // `group` when it is Gloo's: its barrier names ranks
#endif

  // Waits for a collective; a failure becomes an Error that names this rank and the likely cause.
  void wait(const c10::intrusive_ptr<::c10d::Work>& work, const WorldSpec& spec,
            const char* what) const {
    try {
      work->wait();
    } catch (const std::exception& e) {
      throw_error("data parallel: rank ", spec.rank, " of ", spec.world_size, ": the ", what,
                  " failed (another rank died, or did not answer within ", seconds(spec.timeout),
                  "): ", first_line(e));
    }
  }
};

ProcessGroup::ProcessGroup(const WorldSpec& spec) : spec_(spec), impl_(std::make_unique<Impl>()) {
  ATTND_CHECK(spec.world_size >= 1 && spec.rank >= 0 && spec.rank < spec.world_size,
              "rank ", spec.rank, " of world size ", spec.world_size);
  const std::string where = spec.master_addr + ":" + std::to_string(spec.master_port);
  // Under torchrun the elastic agent already serves a TCPStore at MASTER_PORT: every rank is a
  // client there, under a prefix per restart (torch.distributed's _create_c10d_store does the same).
  const char* agent_store = env("TORCHELASTIC_USE_AGENT_STORE");
  const bool use_agent_store = agent_store && std::string_view(agent_store) == "True";
  try {
    ::c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(spec.master_port);
    options.isServer = spec.rank == 0 && !use_agent_store;
    options.numWorkers = static_cast<std::size_t>(spec.world_size);
    options.waitWorkers = true;
    options.timeout = spec.timeout;
    impl_->store = c10::make_intrusive<::c10d::TCPStore>(spec.master_addr, options);
    if (use_agent_store) {
      const char* attempt = env("TORCHELASTIC_RESTART_COUNT");
      impl_->store = c10::make_intrusive<::c10d::PrefixStore>(
          std::string("/worker/attempt_") + (attempt ? attempt : "0"), impl_->store);
    }
  } catch (const std::exception& e) {
    throw_error("data parallel: rank ", spec.rank, " of ", spec.world_size,
                " could not meet the other ranks at ", where, " within ", seconds(spec.timeout),
                " (is every rank started, with the same MASTER_ADDR and MASTER_PORT?): ",
                first_line(e));
  }
  try {
    if (spec.backend == "nccl") {
#ifdef ATTND_WITH_NCCL
      auto options = ::c10d::ProcessGroupNCCL::Options::create();
      options->timeout = spec.timeout;
      impl_->group = c10::make_intrusive<::c10d::ProcessGroupNCCL>(
          impl_->store, static_cast<int>(spec.rank), static_cast<int>(spec.world_size), options);
#else
      throw_input_error("this attnd was built without NCCL (", kBackendVariable, "=nccl): "
                        "configure with -DATTND_WITH_NCCL=ON against a CUDA LibTorch, or use gloo");
#endif
    } else {
#if ATTND_HAVE_GLOO
      auto options = ::c10d::ProcessGroupGloo::Options::create(spec.timeout);
      options->devices.push_back(gloo_device(spec));
      auto gloo = c10::make_intrusive<::c10d::ProcessGroupGloo>(
          impl_->store, static_cast<int>(spec.rank), static_cast<int>(spec.world_size), options);
      impl_->gloo = gloo.get();
      impl_->group = gloo;
#else
      throw_error("this attnd was built against a LibTorch without Gloo's headers (gloo/*.h): "
                  "install them (Debian: libgloo-dev) and rebuild");
#endif
    }
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw_error("data parallel: rank ", spec.rank, " of ", spec.world_size, " could not set up the ",
                spec.backend, " process group through ", where, ": ", first_line(e));
  }
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::broadcast(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  torch::NoGradGuard no_grad;
  for (const auto& bucket : buckets_of(tensors, bucket_bytes)) {
    std::vector<torch::Tensor> parts;
    for (size_t i : bucket) parts.push_back(tensors[i].detach().reshape(-1));
    std::vector<torch::Tensor> flat = {torch::cat(parts)};
    ::c10d::BroadcastOptions options;
    options.rootRank = 0;
    impl_->wait(impl_->group->broadcast(flat, options), spec_, "broadcast");
    int64_t offset = 0;
    for (size_t i : bucket) {
      const auto& t = tensors[i];
      t.detach().copy_(flat[0].narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

void ProcessGroup::all_reduce_sum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  torch::NoGradGuard no_grad;
  struct InFlight {
    std::vector<size_t> members;
    std::vector<torch::Tensor> flat;  // the bucket's tensor, or the member itself when alone
    c10::intrusive_ptr<::c10d::Work> work;
  };
  // Every bucket's all-reduce is started before the first is waited for, so they overlap.
  std::vector<InFlight> in_flight;
  for (auto& bucket : buckets_of(tensors, bucket_bytes)) {
    InFlight f;
    f.members = std::move(bucket);
    const auto& first = tensors[f.members.front()];
    if (f.members.size() == 1 && first.is_contiguous()) {
      f.flat = {first.detach()};
    } else {
      std::vector<torch::Tensor> parts;
      for (size_t i : f.members) parts.push_back(tensors[i].detach().reshape(-1));
      f.flat = {torch::cat(parts)};
    }
    f.work = impl_->group->allreduce(f.flat);
    in_flight.push_back(std::move(f));
  }
  for (auto& f : in_flight) {
    impl_->wait(f.work, spec_, "gradient all-reduce");
    const auto& first = tensors[f.members.front()];
    if (f.flat[0].is_same(first)) continue;  // reduced in place
    int64_t offset = 0;
    for (size_t i : f.members) {
      const auto& t = tensors[i];
      t.detach().copy_(f.flat[0].narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

EvalSums ProcessGroup::all_reduce(const EvalSums& sums) {
  // The ranks must sum the same keys in the same (sorted) order: compare their count and a hash
  // of their names first.
  std::string names;
  for (const auto& kv : sums.values) names += kv.first + '\n';
  const int64_t hash =
      static_cast<int64_t>(std::hash<std::string_view>{}(names) & 0x7fffffffffffffffull);
  const auto mine = torch::tensor({static_cast<int64_t>(sums.values.size()), hash}, torch::kLong);
  std::vector<torch::Tensor> low = {mine.clone()}, high = {mine.clone()};
  ::c10d::AllreduceOptions min_options, max_options;
  min_options.reduceOp = ::c10d::ReduceOp::MIN;
  max_options.reduceOp = ::c10d::ReduceOp::MAX;
  impl_->wait(impl_->group->allreduce(low, min_options), spec_, "evaluation all-reduce");
  impl_->wait(impl_->group->allreduce(high, max_options), spec_, "evaluation all-reduce");
  if (!low[0].equal(high[0]))
    throw_error("data parallel: the ranks' evaluation sums have different keys (rank ", spec_.rank,
                " has ", sums.values.size(), ": ", names.empty() ? "none" : names, ")");
  if (sums.values.empty()) return sums;
  std::vector<double> values;
  for (const auto& kv : sums.values) values.push_back(kv.second);
  std::vector<torch::Tensor> flat = {torch::tensor(values, torch::kDouble)};
  impl_->wait(impl_->group->allreduce(flat), spec_, "evaluation all-reduce");
  EvalSums out;
  int64_t i = 0;
  for (const auto& kv : sums.values) out.values[kv.first] = flat[0][i++].item<double>();
  return out;
}

void ProcessGroup::barrier() {
  if (spec_.world_size == 1) return;
#if ATTND_HAVE_GLOO
  if (impl_->gloo) {
    // Gloo's monitored barrier names the rank that did not arrive.
    ::c10d::BarrierOptions options;
    options.timeout = spec_.timeout;
    try {
      impl_->gloo->monitoredBarrier(options, /*waitAllRanks=*/false);
    } catch (const std::exception& e) {
      throw_error("data parallel: rank ", spec_.rank, " of ", spec_.world_size,
                  ": the barrier failed: ", first_line(e));
    }
    return;
  }
#endif
  impl_->wait(impl_->group->barrier(), spec_, "barrier");
}

void broadcast_module(ProcessGroup& group, torch::nn::Module& module) {
  std::vector<torch::Tensor> tensors;
  for (const auto& p : module.parameters()) tensors.push_back(p);
  for (const auto& b : module.buffers()) tensors.push_back(b);
  group.broadcast(tensors);
}

void all_reduce_gradients(ProcessGroup& group, const std::vector<torch::Tensor>& parameters,
                          int64_t bucket_bytes) {
  if (group.world_size() == 1) return;
  // Which parameters have a gradient on some rank (one tiny all-reduce): those get one on every
  // rank, zero where a rank's examples did not reach them.
  std::vector<torch::Tensor> trainable;
  for (const auto& p : parameters)
    if (p.requires_grad()) trainable.push_back(p);
  if (trainable.empty()) return;
  auto has_grad = torch::zeros({static_cast<int64_t>(trainable.size())}, torch::kInt);
  for (size_t i = 0; i < trainable.size(); ++i)
    if (trainable[i].grad().defined()) has_grad[static_cast<int64_t>(i)] = 1;
  group.all_reduce_sum({has_grad});
  std::vector<torch::Tensor> grads;
  for (size_t i = 0; i < trainable.size(); ++i) {
    auto& p = trainable[i];
    if (has_grad[static_cast<int64_t>(i)].item<int>() == 0) continue;
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  group.all_reduce_sum(grads, bucket_bytes);
  torch::NoGradGuard no_grad;
  const double scale = 1.0 / static_cast<double>(group.world_size());
  for (auto& g : grads) g.mul_(scale);
}

std::shared_ptr<ProcessGroup> process_group() {
  static std::mutex mutex;
  // Never destroyed: tearing Gloo's threads down among the static destructors at exit could
  // hang; the operating system closes the connections.
  static auto* group = new std::shared_ptr<ProcessGroup>();
  static bool joined = false;
  std::lock_guard<std::mutex> lock(mutex);
  if (!joined) {
    const auto spec = world_from_environment();
    if (spec && spec->world_size > 1) *group = std::make_shared<ProcessGroup>(*spec);
    joined = true;
  }
  return *group;
}

// A TCP port nobody listens on now: the kernel's pick for a socket bound to port 0. Rank 0's
// TCPStore binds it a moment later (another program could take it in between; then the
// rendezvous fails and the command can simply be rerun).
int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ATTND_CHECK(fd >= 0, "socket: ", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  const int error = errno;
  ::close(fd);
  if (!ok) throw_error("data parallel: no free TCP port on 127.0.0.1 for the rendezvous: ",
                       std::strerror(error));
  return ntohs(addr.sin_port);
}

bool is_writer_process() {
  const char* world = env("WORLD_SIZE");
  const char* rank = env("RANK");
  if (!world || !rank) return true;  // alone, like process_group() (a stray RANK changes nothing)
  return std::string_view(world) == "1" || std::string_view(rank) == "0";
}

}  // namespace attnd
