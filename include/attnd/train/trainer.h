// The one training loop: AdamW, warmup + cosine, clipping, gradient accumulation, periodic
// evaluation, best checkpoint, resume, metrics.jsonl, progress, NaN guard.
//
// Determinism: the data order, the augmentation and the global torch RNG (dropout) of step s are
// functions of (seed, s) alone, so a run resumed from a checkpoint at step k reproduces the
// uninterrupted run exactly. Data parallel: N ranks with batch b each follow the trajectory of
// one process with batch N·b (to float rounding) when the loss is a mean over equal shares and
// the model has no dropout (each rank draws its own dropout masks).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "attnd/data/batch.h"
#include "attnd/train/optimizer.h"
#include "attnd/train/progress.h"
#include "attnd/train/task.h"

namespace attnd {

class ProcessGroup;

struct TrainerOptions {
  int64_t steps = 1000;          // optimiser steps
  int64_t batch_size = 128;      // per micro-batch (all ranks together)
  int64_t grad_accum = 1;        // micro-batches per step
  AdamWConfig adamw;
  int64_t warmup_steps = 0;
  double min_lr_ratio = 0.0;
  double clip_grad_norm = 1.0;   // <= 0 disables clipping
  int64_t eval_every = 0;        // 0: evaluate at the end only
  int64_t save_every = 0;        // 0: save whenever evaluating
  int64_t log_every = 50;
  int64_t keep_checkpoints = 2;  // step checkpoints kept (best/ is kept separately)
  uint64_t seed = 0;
  std::string run_dir;           // checkpoints/, best/, metrics.jsonl go here
  torch::Device device = torch::kCPU;
  Progress::Style progress = Progress::Style::kAuto;
  std::string label = "train";   // progress prefix
  int64_t stop_after = -1;       // stop early after this step, as if interrupted (tests, time boxes)
  // JSON files written into every checkpoint besides the trainer's own (e.g. "tokenizer.json",
  // so that a text model's checkpoint carries the vocabulary it was trained with).
  std::map<std::string, nlohmann::json> checkpoint_files;
  // Data parallel (distributed.h): each rank takes batch_size / world_size examples of every
  // micro-batch (BatchSampler); rank 0's weights are broadcast at the start, gradients are
  // averaged over the ranks before clipping, evaluation sums are added up, and only rank 0 writes
  // files and progress. `group` must agree with rank and world_size; without one, a rank of
  // world_size > 1 trains its share alone, with no communication (the seams' tests do that).
  int64_t rank = 0;
  int64_t world_size = 1;
  std::shared_ptr<ProcessGroup> group;
};

struct TrainResult {
  int64_t steps_done = 0;
  Metrics final_metrics;
  Metrics best_metrics;
  int64_t best_step = -1;
  std::string best_dir;
  std::string last_checkpoint;
  double seconds = 0.0;
};

class Trainer {
 public:
  Trainer(TrainerOptions options, Task& task, const Dataset& train_data);

  // resume_from: "" (fresh), a checkpoint directory, or a run directory (its latest checkpoint).
  TrainResult fit(const std::string& resume_from = "");

  // The newest checkpoints/step-N in a run directory, or "" if none.
  static std::string latest_checkpoint(const std::string& run_dir);

  // Whether this process writes the run's files (metrics.jsonl, checkpoints/, best/) and shows
  // progress. Every such write goes through this one check.
  bool is_writer() const { return options_.rank == 0; }

 private:
  struct Run;        // one fit()'s state: optimiser, schedule, sampler, log, progress, result
  struct StepStats;  // what one optimiser step reports: lr, loss, loss parts

  // The parts of fit(), in the order each step runs them.
  int64_t resume(const std::string& resume_from, Run& run);
  StepStats optimizer_step(int64_t step, Run& run);
  void log_step(int64_t done, const StepStats& stats, Run& run);
  void evaluate_and_keep_best(int64_t step, Run& run);
  Metrics evaluate();
  void write_log(Run& run, const nlohmann::json& record);

  int64_t restore(const std::string& checkpoint_dir, NamedAdamW& optimizer, TrainResult& result);
  std::string save(int64_t step, NamedAdamW& optimizer, const TrainResult& result);
  void prune_checkpoints() const;

  TrainerOptions options_;
  Task& task_;
  const Dataset& train_data_;
};

}  // namespace attnd
