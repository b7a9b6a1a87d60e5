// SIGKILL of a real `attnd train` at several points, then --resume: the final model must equal an
// uninterrupted run's byte for byte, and a save killed half-way leaves nothing behind.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "cli_run.h"
#include "test_utils.h"

namespace {

namespace fs = std::filesystem;
using attnd::test::read;
using attnd::test::run;

const std::string kArgs =
    "train " + std::string(ATTND_SOURCE_DIR) + "/recipes/hedgehog/recall.toml" +
    " --set data.recall_pairs=4 --set data.recall_vocab=20 --set data.train_examples=64"
    " --set model.vocab_size=20 --set model.n_positions=16 --set model.n_embd=16"
    " --set model.n_layer=1 --set train.steps=6 --set train.eval_every=3 --set train.save_every=1"
    " --set train.keep_checkpoints=10 --set train.batch_size=8 --set train.warmup_steps=1"
    " --set train.eval_batch_size=64 --set run.progress=quiet --set run.threads=1";

bool any_staged_checkpoint(const std::string& run_dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(run_dir + "/checkpoints", ec))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return true;
  return false;
}

// Starts `attnd <kArgs> --out run_dir` with every checkpoint save paused for save_delay_ms inside
// the save (ATTND_TEST_SAVE_DELAY_MS), and SIGKILLs it as soon as `ready()` holds. Returns false if
// the run ended first.
bool train_and_kill(const std::string& run_dir, int save_delay_ms,
                    const std::function<bool()>& ready) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("ATTND_TEST_SAVE_DELAY_MS", std::to_string(save_delay_ms).c_str(), 1);
    const std::string command =
        "exec " + std::string(ATTND_BINARY) + " " + kArgs + " --out " + run_dir + " >/dev/null 2>&1";
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    }
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;  // finished before the kill
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return false;
}

TEST(KillResume, ResumedRunsEqualTheUninterruptedOneByteForByte) {
  attnd::test::TempDir tmp;
  const auto reference = tmp / "reference";
  auto r = run(kArgs + " --out " + reference);
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string final_model = read(reference + "/checkpoints/step-0000006/model.safetensors");
  const std::string best_model = read(reference + "/best/model.safetensors");
  ASSERT_FALSE(final_model.empty());

  struct Point {
    const char* name;
    bool during_save;  // the kill leaves a staging directory behind
    std::function<bool(const std::string&)> ready;
  };
  const Point points[] = {
      // Inside the save of step 2: its staging directory is written, the swap not yet done.
      {"during the save of step 2", true,
       [](const std::string& d) {
         return fs::exists(d + "/checkpoints/step-0000001") && any_staged_checkpoint(d);
       }},
      // Right after the checkpoint of step 3 is in place (before or while best/ is written).
      {"after the checkpoint of step 3", false,
       [](const std::string& d) { return fs::exists(d + "/checkpoints/step-0000003"); }},
      // Inside the save of step 5.
      {"during the save of step 5", true,
       [](const std::string& d) {
         return fs::exists(d + "/checkpoints/step-0000004") && any_staged_checkpoint(d);
       }},
  };
  int n = 0;
  for (const auto& point : points) {
    const auto dir = tmp / ("killed-" + std::to_string(n++));
    ASSERT_TRUE(train_and_kill(dir, 300, [&] { return point.ready(dir); }))
        << point.name << ": the run was not killed";
    EXPECT_FALSE(fs::exists(dir + "/checkpoints/step-0000006")) << point.name;
    if (point.during_save) EXPECT_TRUE(any_staged_checkpoint(dir)) << point.name;
    r = run(kArgs + " --out " + dir + " --resume " + dir);
    ASSERT_EQ(r.code, 0) << point.name << "\n" << r.output;
    EXPECT_FALSE(any_staged_checkpoint(dir)) << point.name << ": a killed save was left behind";
    EXPECT_TRUE(read(dir + "/checkpoints/step-0000006/model.safetensors") == final_model)
        << point.name << ": the resumed final model differs from the uninterrupted run's";
    EXPECT_TRUE(read(dir + "/best/model.safetensors") == best_model) << point.name;
  }
}

}  // namespace
