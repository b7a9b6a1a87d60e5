// Which examples each training step sees, as a pure function of (seed, step): a resumed run
// draws exactly the batches an uninterrupted one would.
//
// The random numbers come from std::mt19937_64 (its output is fixed by the C++ standard) through
// our own Fisher-Yates and bounded draws: std::shuffle and std::uniform_int_distribution are
// implementation-defined, so they could differ between standard libraries.
#pragma once

#include <cstdint>
#include <mutex>
#include <random>
#include <vector>

namespace attnd {

// SplitMix64 finaliser of (a, b): derives independent stream seeds (per epoch, per example).
uint64_t mix_seed(uint64_t a, uint64_t b);

// Uniform integer in [0, bound) without modulo bias; bound > 0.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound);
// Uniform double in [0, 1) with 53 random bits.
double uniform_unit(std::mt19937_64& rng);
// Standard normal draw (Box-Muller), portable unlike std::normal_distribution.
double standard_normal(std::mt19937_64& rng);

// In-place Fisher-Yates shuffle.
void fisher_yates(std::vector<int64_t>& values, std::mt19937_64& rng);
// A permutation of 0..n-1 drawn from `seed`.
std::vector<int64_t> random_permutation(int64_t n, uint64_t seed);

// Data parallel: `batch_size` is the global batch. Every rank draws the same permutation per
// epoch and takes its own contiguous slice of each global batch (rank r of W: positions
// [r·b/W, (r+1)·b/W)), so the ranks' batches are disjoint and together are exactly the one-rank
// batch of that step. With world_size 1 the indices are the one-rank ones.
class BatchSampler {
 public:
  // drop_last: each epoch has dataset_size / batch_size full batches; the remainder of that
  // epoch's permutation is skipped. InputError if batch_size > dataset_size, either is < 1, rank
  // is outside [0, world_size) or batch_size is not a multiple of world_size.
  BatchSampler(int64_t dataset_size, int64_t batch_size, uint64_t seed, bool shuffle = true,
               int64_t rank = 0, int64_t world_size = 1);

  // This rank's dataset indices of global step `step` (0-based, counting across epochs).
  std::vector<int64_t> indices_for_step(int64_t step) const;
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t epoch_of(int64_t step) const { return step / steps_per_epoch_; }
  // The order of epoch `epoch`: a permutation of 0..n-1 (the identity without shuffle).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

  int64_t dataset_size() const { return dataset_size_; }
  int64_t batch_size() const { return batch_size_; }  // global: all ranks together
  int64_t local_batch_size() const { return batch_size_ / world_size_; }
  int64_t rank() const { return rank_; }
  int64_t world_size() const { return world_size_; }

 private:
  int64_t dataset_size_;
  int64_t batch_size_;
  uint64_t seed_;
  bool shuffle_;
  int64_t rank_;
  int64_t world_size_;
  int64_t steps_per_epoch_;
  // The last epoch's permutation: consecutive steps reuse it. Guarded for prefetching threads.
  mutable std::mutex cache_mutex_;
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<int64_t> cached_order_;
};

// 0..n-1 in order, split into batches of `batch_size` (the last one partial): for evaluation.
std::vector<std::vector<int64_t>> eval_batches(int64_t n, int64_t batch_size);

}  // namespace attnd
