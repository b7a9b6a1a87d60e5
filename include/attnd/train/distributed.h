// Data parallel across processes on LibTorch's own distributed engine, c10d: a TCPStore
// rendezvous and a ProcessGroupGloo over CPU tensors (ProcessGroupNCCL when built with
// ATTND_WITH_NCCL). LibTorch has no C++ DistributedDataParallel, so the trainer does its work
// itself: rank 0's parameters and buffers are broadcast at the start, and after each backward the
// gradients are all-reduced in buckets and divided by the world size (all_reduce_gradients).
//
// A process learns its place from torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR, MASTER_PORT), so `attnd <verb> --nproc N`, torchrun-style launchers and cluster
// schedulers drive the same binary. docs/distributed.md has the whole story.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attnd/train/eval_sums.h"

namespace attnd {

// Where this process sits in a data-parallel job.
struct WorldSpec {
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t local_rank = 0;
  std::string master_addr = "127.0.0.1";  // rank 0's host: it serves the TCPStore there
  int64_t master_port = 29500;
  // How long the rendezvous and every collective may wait for the other ranks: a rank that
  // died or hangs stops the others after this long at the latest.
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
  std::string backend = "gloo";  // "gloo", or "nccl" in a build with ATTND_WITH_NCCL
};

// The environment variables that place a process (torchrun's names) and attnd's own two:
// ATTND_DIST_TIMEOUT (seconds, default 300) and ATTND_DIST_BACKEND (gloo | nccl).
constexpr const char* kTimeoutVariable = "ATTND_DIST_TIMEOUT";
constexpr const char* kBackendVariable = "ATTND_DIST_BACKEND";

// This process's WorldSpec from the environment; nullopt when WORLD_SIZE is unset. InputError
// naming the variable when one is malformed, or when RANK or the master's address is missing
// from a job of more than one process.
std::optional<WorldSpec> world_from_environment();

// One process's handle on the job's process group. Every rank must make the same calls in the
// same order with tensors of the same shapes and dtypes; a collective that fails (a peer died,
// or did not answer within the timeout) throws attnd::Error naming this rank.
class ProcessGroup {
 public:
  // Rendezvous of all ranks (rank 0 serves the TCPStore at master_addr:master_port), then the
  // group. Error naming the address when the others do not arrive within spec.timeout.
  explicit ProcessGroup(const WorldSpec& spec);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int64_t rank() const { return spec_.rank; }
  int64_t world_size() const { return spec_.world_size; }
  const WorldSpec& spec() const { return spec_; }

  // Rank 0's values of `tensors`, copied in place on every rank.
  void broadcast(const std::vector<torch::Tensor>& tensors,
                 int64_t bucket_bytes = kDefaultBucketBytes);
  // The sum over ranks of each tensor, in place. Tensors are flattened into buckets of at most
  // bucket_bytes (one dtype each; a larger tensor is a bucket of its own), one all-reduce each.
  void all_reduce_sum(const std::vector<torch::Tensor>& tensors,
                      int64_t bucket_bytes = kDefaultBucketBytes);
  // The sums of every rank added up, in double precision. Error when the ranks' keys differ.
  EvalSums all_reduce(const EvalSums& sums);
  // Returns when every rank has called it; a rank that does not arrive within the timeout is
  // named in the Error.
  void barrier();

  // DistributedDataParallel's default bucket size.
  static constexpr int64_t kDefaultBucketBytes = int64_t{25} << 20;

 private:
  struct Impl;
  WorldSpec spec_;
  std::unique_ptr<Impl> impl_;
};

// Rank 0's parameters and buffers into `module`'s on every rank (in place, without autograd).
void broadcast_module(ProcessGroup& group, torch::nn::Module& module);

// After backward: every parameter's gradient becomes the mean over ranks of the ranks'
// gradients, as if one process had taken all ranks' examples (each rank's loss being the mean
// over an equal share). A parameter without a gradient on some rank counts zero there; one
// without a gradient on every rank keeps none, as it would in one process.
void all_reduce_gradients(ProcessGroup& group, const std::vector<torch::Tensor>& parameters,
                          int64_t bucket_bytes = ProcessGroup::kDefaultBucketBytes);

// This process's group, joined on the first call from world_from_environment(); nullptr when
// this process runs alone (WORLD_SIZE unset or 1). One rendezvous per process: every trainer of
// a multi-stage run shares it.
std::shared_ptr<ProcessGroup> process_group();

// Whether this process writes a run's files: rank 0 of a job, or a process on its own. Reads
// RANK and WORLD_SIZE only, so it is cheap and needs no rendezvous.
bool is_writer_process();

// A TCP port on 127.0.0.1 that nobody listens on now (the kernel's pick for port 0), for a local
// job's rendezvous. Another program could take it before rank 0 binds it; the rendezvous then
// fails with a message and the command can be rerun. attnd::Error when no port is free.
int free_loopback_port();

}  // namespace attnd
