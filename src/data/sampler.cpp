#include "attnd/data/sampler.h"

#include <cmath>
#include <numeric>

#include "attnd/core/error.h"

namespace attnd {

uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9e3779b97f4a7c15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  ATTND_CHECK(bound > 0, "uniform_below needs a positive bound");
  // Reject the lowest (2^64 mod bound) values so that every residue is equally likely.
  const uint64_t threshold = (0 - bound) % bound;
  while (true) {
    const uint64_t r = rng();
    if (r >= threshold) return r % bound;
  }
}

double uniform_unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

double standard_normal(std::mt19937_64& rng) {
  const double u1 = 1.0 - uniform_unit(rng);  // (0, 1]: log stays finite
  const double u2 = uniform_unit(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

void fisher_yates(std::vector<int64_t>& values, std::mt19937_64& rng) {
  for (size_t i = values.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(uniform_below(rng, i));
    std::swap(values[i - 1], values[j]);
  }
}

std::vector<int64_t> random_permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::mt19937_64 rng(seed);
  fisher_yates(order, rng);
  return order;
}

BatchSampler::BatchSampler(int64_t dataset_size, int64_t batch_size, uint64_t seed, bool shuffle,
                           int64_t rank, int64_t world_size)
    : dataset_size_(dataset_size), batch_size_(batch_size), seed_(seed), shuffle_(shuffle),
      rank_(rank), world_size_(world_size) {
  ATTND_CHECK_INPUT(batch_size >= 1, "batch size must be at least 1, got ", batch_size);
  ATTND_CHECK_INPUT(dataset_size >= batch_size, "batch size ", batch_size,
                    " is larger than the dataset (", dataset_size, " examples)");
  ATTND_CHECK_INPUT(world_size >= 1, "world size must be at least 1, got ", world_size);
  ATTND_CHECK_INPUT(rank >= 0 && rank < world_size, "rank must be in [0, world size = ",
                    world_size, "), got ", rank);
  ATTND_CHECK_INPUT(batch_size % world_size == 0, "batch size ", batch_size,
                    " must be a multiple of the world size (", world_size,
                    " ranks each take an equal slice of every batch)");
  steps_per_epoch_ = dataset_size / batch_size;
}

std::vector<int64_t> BatchSampler::epoch_order(int64_t epoch) const {
  if (!shuffle_) {
    std::vector<int64_t> order(static_cast<size_t>(dataset_size_));
    std::iota(order.begin(), order.end(), int64_t{0});
    return order;
  }
  return random_permutation(dataset_size_, mix_seed(seed_, static_cast<uint64_t>(epoch)));
}

std::vector<int64_t> BatchSampler::indices_for_step(int64_t step) const {
  ATTND_CHECK(step >= 0, "negative step ", step);
  const int64_t epoch = step / steps_per_epoch_;
  const int64_t local = local_batch_size();
  const int64_t begin = (step % steps_per_epoch_) * batch_size_ + rank_ * local;
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cached_epoch_ != epoch) {
    cached_order_ = epoch_order(epoch);
    cached_epoch_ = epoch;
  }
  return std::vector<int64_t>(cached_order_.begin() + begin,
                              cached_order_.begin() + begin + local);
}

std::vector<std::vector<int64_t>> eval_batches(int64_t n, int64_t batch_size) {
  ATTND_CHECK_INPUT(batch_size >= 1, "batch size must be at least 1, got ", batch_size);
  std::vector<std::vector<int64_t>> batches;
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    std::vector<int64_t> batch(static_cast<size_t>(std::min(batch_size, n - begin)));
    std::iota(batch.begin(), batch.end(), begin);
    batches.push_back(std::move(batch));
  }
  return batches;
}

}  // namespace attnd
