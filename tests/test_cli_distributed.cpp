// Data parallel through the attnd binary (c10d Gloo on loopback). The oracle of the trajectory is
// the same run in one process: `--nproc 2` with train.batch_size = 2b (b per rank) must end where
// one process with batch 2b ends, while one process with batch b ends elsewhere (so the tolerance
// can tell them apart). A worker that dies stops the job with exit 1 naming its rank, leaves no
// process behind, and rerunning with --resume gives the uninterrupted run's bytes; a worker that
// hangs stops the job within --dist-timeout.
#include <gtest/gtest.h>

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "attnd/io/safetensors.h"
#include "cli_run.h"
#include "test_utils.h"

namespace {

namespace fs = std::filesystem;
using attnd::test::read;
using attnd::test::RunResult;

// A one-layer GPT-2 on associative recall: no dropout (each rank would draw its own masks), and
// every example scores the same number of tokens, so a rank's mean loss over its half of a batch
// averages with the other's to the whole batch's mean. Clipping at 0.05 is active on every step:
// it must see the all-reduced gradients for the trajectories to agree.
std::string args(int64_t batch_size) {
  return "train " + std::string(ATTND_SOURCE_DIR) + "/recipes/hedgehog/recall.toml" +
         " --set data.recall_pairs=4 --set data.recall_vocab=20 --set data.train_examples=64"
         " --set model.vocab_size=20 --set model.n_positions=16 --set model.n_embd=16"
         " --set model.n_layer=1 --set train.steps=6 --set train.eval_every=3"
         " --set train.save_every=1 --set train.keep_checkpoints=10 --set train.warmup_steps=1"
         " --set train.log_every=1 --set train.eval_batch_size=64 --set train.clip_grad_norm=0.05"
         " --set run.progress=quiet --set run.threads=1 --set train.batch_size=" +
         std::to_string(batch_size);
}

struct Timed {
  RunResult result;
  double seconds;
};

// `env` (e.g. "ATTND_TEST_FAULT=1:4:kill") in the environment of `attnd <arguments>`.
Timed run_with(const std::string& env, const std::string& arguments) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string command =
      "env " + env + " " + std::string(ATTND_BINARY) + " " + arguments + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string output;
  char buf[4096];
  size_t n;
  while (pipe && (n = std::fread(buf, 1, sizeof buf, pipe)) > 0) output.append(buf, n);
  const int status = pipe ? ::pclose(pipe) : -1;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {{WIFEXITED(status) ? WEXITSTATUS(status) : -1, output}, s};
}

attnd::TensorMap final_weights(const std::string& run_dir) {
  return attnd::read_safetensors(run_dir + "/checkpoints/step-0000006/model.safetensors").tensors;
}

double max_difference(const attnd::TensorMap& a, const attnd::TensorMap& b) {
  double worst = 0;
  for (const auto& [name, t] : a)
    worst = std::max(worst, (t - b.at(name)).abs().max().item<double>());
  return worst;
}

// The train lines' losses of metrics.jsonl, in order.
std::vector<double> train_losses(const std::string& run_dir) {
  std::vector<double> out;
  std::istringstream lines(read(run_dir + "/metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.value("split", "") == "train") out.push_back(j.at("loss").get<double>());
  }
  return out;
}

// Processes whose command line mentions `marker` (a run directory): leftover workers.
int processes_mentioning(const std::string& marker) {
  int count = 0;
  DIR* proc = ::opendir("/proc");
  while (dirent* entry = proc ? ::readdir(proc) : nullptr) {
    const std::string pid = entry->d_name;
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (pid == std::to_string(::getpid())) continue;
    if (read("/proc/" + pid + "/cmdline").find(marker) != std::string::npos) ++count;
  }
  if (proc) ::closedir(proc);
  return count;
}

TEST(DataParallel, TwoProcessesFollowOneProcessWithTheWholeBatch) {
  attnd::test::TempDir tmp;
  const auto one = attnd::test::run(args(8) + " --out " + tmp / "one");
  ASSERT_EQ(one.code, 0) << one.output;
  const auto two = attnd::test::run(args(8) + " --nproc 2 --out " + tmp / "two");
  ASSERT_EQ(two.code, 0) << two.output;
  const auto half = attnd::test::run(args(4) + " --out " + tmp / "half");
  ASSERT_EQ(half.code, 0) << half.output;

  const auto reference = final_weights(tmp / "one");
  const auto parallel = final_weights(tmp / "two");
  ASSERT_EQ(reference.size(), parallel.size());
  const double gap = max_difference(reference, parallel);
  EXPECT_LT(gap, 2e-5) << "two ranks of batch 4 left the one-process trajectory of batch 8";
  // The tolerance is far tighter than what another trajectory looks like.
  EXPECT_GT(max_difference(reference, final_weights(tmp / "half")), 100 * std::max(gap, 1e-7));

  // Rank 0 alone logged, and its losses are the whole batch's (the ranks' means averaged).
  const auto losses = train_losses(tmp / "one");
  const auto parallel_losses = train_losses(tmp / "two");
  ASSERT_EQ(losses.size(), 6u);
  ASSERT_EQ(parallel_losses.size(), 6u);
  for (size_t i = 0; i < losses.size(); ++i)
    EXPECT_NEAR(parallel_losses[i], losses[i], 1e-5 * losses[i]) << "step " << i + 1;
  // The sharded evaluation adds up to the one-process evaluation.
  const auto result_one = nlohmann::json::parse(read(tmp / "one/result.json"));
  const auto result_two = nlohmann::json::parse(read(tmp / "two/result.json"));
  EXPECT_EQ(result_two["best_step"], result_one["best_step"]);
  EXPECT_NEAR(result_two["val"]["loss"].get<double>(), result_one["val"]["loss"].get<double>(), 1e-4);
  EXPECT_NEAR(result_two["val"]["accuracy"].get<double>(),
              result_one["val"]["accuracy"].get<double>(), 1e-9);
}

TEST(DataParallel, ADeadWorkerStopsTheJobAndRerunningResumesToTheUninterruptedRun) {
  attnd::test::TempDir tmp;
  const auto whole = attnd::test::run(args(8) + " --nproc 2 --out " + tmp / "whole");
  ASSERT_EQ(whole.code, 0) << whole.output;

  const auto broken = tmp / "broken";
  const auto killed = run_with("ATTND_TEST_FAULT=1:4:kill",
                               args(8) + " --nproc 2 --dist-timeout 30 --out " + broken);
  EXPECT_EQ(killed.result.code, 1) << killed.result.output;
  EXPECT_NE(killed.result.output.find("rank 1 of 2 was killed by signal 9"), std::string::npos)
      << killed.result.output;
  EXPECT_LT(killed.seconds, 30.0);
  EXPECT_EQ(processes_mentioning(broken), 0) << "a worker outlived the job";
  EXPECT_FALSE(fs::exists(broken + "/checkpoints/step-0000006"));
  ASSERT_TRUE(fs::exists(broken + "/checkpoints/step-0000002"));

  const auto resumed = attnd::test::run(args(8) + " --nproc 2 --out " + broken + " --resume " + broken);
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  const auto expected = read(tmp / "whole/checkpoints/step-0000006/model.safetensors");
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(read(broken + "/checkpoints/step-0000006/model.safetensors"), expected);
}

TEST(DataParallel, AHungWorkerStopsTheJobWithinTheTimeout) {
  attnd::test::TempDir tmp;
  const auto out = tmp / "hung";
  const auto hung = run_with("ATTND_TEST_FAULT=1:2:hang",
                             args(8) + " --nproc 2 --dist-timeout 3 --out " + out);
  EXPECT_EQ(hung.result.code, 1) << hung.result.output;
  // Rank 0 gives up on the silent rank 1 after 3 s; the launcher names it and stops rank 1.
  EXPECT_NE(hung.result.output.find("rank 0 of 2: the gradient all-reduce failed"),
            std::string::npos) << hung.result.output;
  EXPECT_NE(hung.result.output.find("rank 0 of 2 exited with status 1; the other ranks were "
                                    "stopped (still running: 1)"),
            std::string::npos)
      << hung.result.output;
  EXPECT_LT(hung.seconds, 30.0);
  EXPECT_EQ(processes_mentioning(out), 0) << "a worker outlived the job";
}

TEST(DataParallel, BadPlacementOrBatchIsBadInput) {
  attnd::test::TempDir tmp;
  // A rank of a launcher's job without its rank.
  const auto no_rank = run_with("WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29999",
                                args(8) + " --out " + tmp / "a");
  EXPECT_EQ(no_rank.result.code, 2) << no_rank.result.output;
  EXPECT_NE(no_rank.result.output.find("RANK is not set"), std::string::npos)
      << no_rank.result.output;
  // A batch that does not split evenly over the ranks.
  const auto odd = attnd::test::run(args(7) + " --nproc 2 --out " + tmp / "b");
  EXPECT_EQ(odd.code, 2) << odd.output;
  EXPECT_NE(odd.output.find("not a multiple of the number of processes (2)"), std::string::npos)
      << odd.output;
  // --nproc inside a launcher's job.
  const auto nested = run_with("WORLD_SIZE=1", args(8) + " --nproc 2 --out " + tmp / "c");
  EXPECT_EQ(nested.result.code, 2) << nested.result.output;
  EXPECT_NE(nested.result.output.find("WORLD_SIZE is set"), std::string::npos)
      << nested.result.output;
}

}  // namespace
