// train/distributed: two ranks as two threads of this process, over a real TCPStore and Gloo on
// loopback. Oracles: sums, means and copies written out by hand.
#include <gtest/gtest.h>

#include <unistd.h>

#include <array>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include "attnd/core/error.h"
#include "attnd/train/distributed.h"
#include "test_utils.h"

namespace attnd {
namespace {

// Runs body(group) on ranks 0 and 1 at once; an exception on a rank is returned as its message.
std::array<std::string, 2> on_two_ranks(const std::function<void(ProcessGroup&)>& body) {
  const int port = free_loopback_port();
  std::array<std::string, 2> errors;
  auto rank_main = [&](int64_t rank) {
    try {
      WorldSpec spec;
      spec.rank = rank;
      spec.world_size = 2;
      spec.master_port = port;
      spec.timeout = std::chrono::seconds(20);
      ProcessGroup group(spec);
      body(group);
    } catch (const std::exception& e) {
      errors[static_cast<size_t>(rank)] = e.what();
    }
  };
  std::thread other(rank_main, 1);
  rank_main(0);
  other.join();
  return errors;
}

TEST(Distributed, AllReduceSumsBucketsOfMixedTensorsInPlace) {
  const auto errors = on_two_ranks([](ProcessGroup& group) {
    const double r = static_cast<double>(group.rank());
    // Three float tensors (one non-contiguous), a double and an int: with 16-byte buckets most
    // tensors travel alone, the small ones share one.
    auto a = torch::full({2}, 1.0 + r);                    // 8 bytes
    auto b = torch::full({1}, 10.0 * (r + 1));             // 4 bytes: shares a's bucket
    auto c = torch::arange(6, torch::kFloat).view({2, 3}).t() * (r + 1);  // non-contiguous
    auto d = torch::full({3}, 0.5 + r, torch::kDouble);
    auto e = torch::full({2}, static_cast<int64_t>(3 + group.rank()), torch::kLong);
    group.all_reduce_sum({a, b, c, d, e}, /*bucket_bytes=*/16);
    // Hand sums: rank 0's value + rank 1's.
    EXPECT_TRUE(a.equal(torch::full({2}, 1.0 + 2.0)));
    EXPECT_TRUE(b.equal(torch::full({1}, 10.0 + 20.0)));
    EXPECT_TRUE(c.equal(torch::arange(6, torch::kFloat).view({2, 3}).t() * 3));
    EXPECT_TRUE(d.equal(torch::full({3}, 0.5 + 1.5, torch::kDouble)));
    EXPECT_TRUE(e.equal(torch::full({2}, int64_t{7}, torch::kLong)));
  });
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
}

TEST(Distributed, BroadcastCopiesRankZerosModuleAndSumsAddEvaluations) {
  const auto errors = on_two_ranks([](ProcessGroup& group) {
    // No RNG here: the two threads share torch's global generator.
    torch::nn::BatchNorm1d module(3);
    module->running_mean.fill_(static_cast<double>(group.rank()) + 0.25);
    const auto rank0_weight = torch::tensor({0.1f, 0.7f, 0.3f});
    if (group.rank() == 0) {
      torch::NoGradGuard no_grad;
      module->weight.copy_(rank0_weight);
    }
    broadcast_module(group, *module);
    EXPECT_TRUE(module->weight.equal(rank0_weight));
    EXPECT_TRUE(module->running_mean.equal(torch::full({3}, 0.25)));
    EXPECT_TRUE(module->weight.requires_grad());

    EvalSums sums;
    sums.add("correct", 3.0 + static_cast<double>(group.rank()));
    sums.add("examples", 10.0);
    const auto total = group.all_reduce(sums);
    EXPECT_EQ(total.get("correct"), 7.0);
    EXPECT_EQ(total.get("examples"), 20.0);
    group.barrier();
  });
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
}

TEST(Distributed, RanksWhoseEvaluationKeysDifferFailAlike) {
  const auto errors = on_two_ranks([](ProcessGroup& group) {
    EvalSums sums;
    sums.add(group.rank() == 0 ? "loss_sum" : "nll_sum", 1.0);
    group.all_reduce(sums);
  });
  for (const auto& e : errors) EXPECT_NE(e.find("different keys"), std::string::npos) << e;
}

TEST(Distributed, GradientsBecomeTheMeanAndAMissingGradientCountsZero) {
  const auto errors = on_two_ranks([](ProcessGroup& group) {
    const bool zero = group.rank() == 0;
    auto both = torch::zeros({2}, torch::requires_grad());
    auto only_rank0 = torch::zeros({2}, torch::requires_grad());
    auto neither = torch::zeros({2}, torch::requires_grad());
    auto frozen = torch::zeros({2});
    both.mutable_grad() = torch::full({2}, zero ? 1.0 : 3.0);
    if (zero) only_rank0.mutable_grad() = torch::full({2}, 4.0);
    all_reduce_gradients(group, {both, only_rank0, neither, frozen});
    EXPECT_TRUE(both.grad().equal(torch::full({2}, 2.0)));        // (1 + 3) / 2
    EXPECT_TRUE(only_rank0.grad().equal(torch::full({2}, 2.0)));  // (4 + 0) / 2
    EXPECT_FALSE(neither.grad().defined());
    EXPECT_FALSE(frozen.grad().defined());
  });
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
}

// Sets environment variables for one test and restores them after.
class Environment {
 public:
  void set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~Environment() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else ::unsetenv(it->first.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(Distributed, TheEnvironmentPlacesTheProcessOrSaysWhatIsWrong) {
  Environment env;
  for (const char* name : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
                           kTimeoutVariable, kBackendVariable})
    env.set(name, nullptr);
  EXPECT_FALSE(world_from_environment().has_value());
  EXPECT_TRUE(is_writer_process());
  {
    Environment stray;
    stray.set("RANK", "1");  // without WORLD_SIZE this process is on its own
    EXPECT_TRUE(is_writer_process());
  }

  env.set("WORLD_SIZE", "4");
  env.set("RANK", "3");
  env.set("MASTER_ADDR", "node0");
  env.set("MASTER_PORT", "29400");
  env.set(kTimeoutVariable, "2.5");
  auto spec = world_from_environment();
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(spec->world_size, 4);
  EXPECT_EQ(spec->rank, 3);
  EXPECT_EQ(spec->local_rank, 3);  // torchrun always sets it; alone, the rank stands in
  EXPECT_EQ(spec->master_addr, "node0");
  EXPECT_EQ(spec->master_port, 29400);
  EXPECT_EQ(spec->timeout.count(), 2500);
  EXPECT_EQ(spec->backend, "gloo");

  const auto error_with = [&](const char* name, const char* value) {
    Environment inner;
    inner.set(name, value);
    return test::error_of([] { world_from_environment(); });
  };
  EXPECT_NE(error_with("RANK", "4").find("RANK = '4' is not this process's rank"), std::string::npos);
  EXPECT_NE(error_with("RANK", nullptr).find("RANK is not set"), std::string::npos);
  EXPECT_NE(error_with("WORLD_SIZE", "two").find("WORLD_SIZE = 'two'"), std::string::npos);
  EXPECT_NE(error_with("MASTER_PORT", "70000").find("MASTER_PORT = '70000'"), std::string::npos);
  EXPECT_NE(error_with("MASTER_ADDR", nullptr).find("MASTER_ADDR is not set"), std::string::npos);
  EXPECT_NE(error_with(kTimeoutVariable, "-1").find(kTimeoutVariable), std::string::npos);
  EXPECT_NE(error_with(kBackendVariable, "mpi").find("not one of gloo, nccl"), std::string::npos);
  EXPECT_THROW(
      {
        Environment inner;
        inner.set("RANK", "9");
        world_from_environment();
      },
      InputError);

  EXPECT_TRUE(is_writer_process() == false);  // RANK=3
  env.set("RANK", "0");
  EXPECT_TRUE(is_writer_process());
}

}  // namespace
}  // namespace attnd
