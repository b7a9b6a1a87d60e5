// methods/stage.h: the stage record of a multi-stage run and where a resume continues — decided
// by the run directory's record and the directory layout, never by how the path is spelt.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "attnd/methods/stage.h"
#include "test_utils.h"

namespace {

using namespace attnd;
using attnd::test::error_of;
using attnd::test::TempDir;
namespace fs = std::filesystem;

// What Trainer::latest_checkpoint recognises: <stage>/checkpoints/step-N/trainer.json.
std::string fake_checkpoint(const std::string& stage, int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "step-%07lld", static_cast<long long>(step));
  const auto dir = fs::path(stage) / "checkpoints" / name;
  fs::create_directories(dir);
  std::ofstream(dir / "trainer.json") << "{\"step\": " << step << "}\n";
  return dir.string();
}

TEST(StageRecord, RoundTripsAndRejectsMalformedRecords) {
  TempDir tmp;
  EXPECT_FALSE(read_stage_record(tmp.path()).has_value());
  write_stage_record(tmp.path(), {2, false});
  auto record = read_stage_record(tmp.path());
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->stage, 2);
  EXPECT_FALSE(record->finished);
  write_stage_record(tmp.path(), {2, true});
  EXPECT_TRUE(read_stage_record(tmp.path())->finished);
  std::ofstream(tmp / "stages.json") << "{\"stage\": \"two\"}\n";
  EXPECT_NE(error_of([&] { read_stage_record(tmp.path()); }).find("stages.json: expected"),
            std::string::npos);
  EXPECT_EQ(stage_dir("runs/x", 2), "runs/x/stage2");
}

TEST(StageResume, FreshRunAndUnknownLayout) {
  EXPECT_EQ(resolve_stage_resume("", 2).stage, 0);
  TempDir tmp;
  // A checkpoint outside any stage directory: stage 1, as given.
  const auto ckpt = fake_checkpoint(tmp / "elsewhere", 3);
  auto r = resolve_stage_resume(ckpt, 2);
  EXPECT_EQ(r.stage, 1);
  EXPECT_EQ(r.from, ckpt);
}

TEST(StageResume, RunDirectoryFollowsItsRecord) {
  TempDir tmp;
  const auto run = tmp / "lin";  // nothing in the path names a stage
  fake_checkpoint(run + "/stage1", 2);
  write_stage_record(run, {1, false});
  auto r = resolve_stage_resume(run, 2);
  EXPECT_EQ(r.stage, 1);
  EXPECT_EQ(r.from, run + "/stage1");

  // Stage 2 started but saved nothing yet: continue from the end of stage 1.
  write_stage_record(run, {2, false});
  EXPECT_EQ(resolve_stage_resume(run, 2).stage, 1);

  fake_checkpoint(run + "/stage2", 2);
  r = resolve_stage_resume(run, 2);
  EXPECT_EQ(r.stage, 2);
  EXPECT_EQ(r.from, run + "/stage2");
  EXPECT_EQ(resolve_stage_resume(run + "/", 2).from, run + "/stage2");  // a trailing slash

  write_stage_record(run, {3, false});
  EXPECT_NE(error_of([&] { resolve_stage_resume(run, 2); }).find("stage 3 is not a stage of this run"),
            std::string::npos);
}

TEST(StageResume, RunDirectoryWithoutARecordUsesItsNewestStage) {
  TempDir tmp;
  const auto run = tmp / "old-run";
  fake_checkpoint(run + "/stage1", 2);
  EXPECT_EQ(resolve_stage_resume(run, 2).stage, 1);
  fake_checkpoint(run + "/stage2", 1);
  auto r = resolve_stage_resume(run, 2);
  EXPECT_EQ(r.stage, 2);
  EXPECT_EQ(r.from, run + "/stage2");
}

TEST(StageResume, InsideAStageDirectoryTheLayoutDecides) {
  TempDir tmp;
  // The run itself lives under a directory called "stage2-experiments/stage2": the nearest
  // stage<n> on the way up is what counts.
  const auto run = tmp / "stage2-experiments/stage2/lin";
  const auto stage1 = fake_checkpoint(run + "/stage1", 2);
  auto r = resolve_stage_resume(stage1, 2);
  EXPECT_EQ(r.stage, 1);
  EXPECT_EQ(r.from, stage1);
  const auto stage2 = fake_checkpoint(run + "/stage2", 4);
  r = resolve_stage_resume(stage2, 2);
  EXPECT_EQ(r.stage, 2);
  EXPECT_EQ(r.from, stage2);
  r = resolve_stage_resume(run + "/stage1", 2);
  EXPECT_EQ(r.stage, 1);
  EXPECT_EQ(r.from, run + "/stage1");
}

}  // namespace
