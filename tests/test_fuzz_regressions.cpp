// Every input the fuzz targets found (scripts/fuzz --save-crashers: a crash, a sanitizer report, a
// leak, a hang or an exception other than attnd's) is kept under
// tests/data/fuzz-regressions/<reader>/ and fed here to the same reader function the target used
// (fuzz/fuzz_targets.h). Each must now be refused with an attnd::Error naming the input file;
// a crash ends this binary, and any other exception fails the test.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "../fuzz/fuzz_targets.h"

namespace {

namespace fs = std::filesystem;

const fs::path kRoot = fs::path(ATTND_SOURCE_DIR) / "tests/data/fuzz-regressions";

std::string bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(FuzzRegressions, EveryFoundInputIsAnAttndError) {
  ASSERT_TRUE(fs::is_directory(kRoot)) << kRoot;
  int inputs = 0;
  for (const auto& dir : fs::directory_iterator(kRoot)) {
    if (!dir.is_directory()) continue;  // README.md
    const auto reader = dir.path().filename().string();
    ASSERT_EQ(attnd::fuzz::readers().count(reader), 1u)
        << dir.path() << " is named after no reader of fuzz/fuzz_targets.h";
    for (const auto& file : fs::directory_iterator(dir.path())) {
      ++inputs;
      try {
        attnd::fuzz::readers().at(reader)(bytes_of(file.path()));
        ADD_FAILURE() << file.path() << " was accepted; it was kept because it broke the reader, "
                      << "and a reader's fix refuses it";
      } catch (const attnd::Error& e) {
        // The readers read the input from a file named in fuzz_targets.h; the message names it.
        const std::string message = e.what();
        EXPECT_NE(message.find("attnd-fuzz-"), std::string::npos)
            << file.path() << ": the message does not name the file: " << message;
      } catch (const std::exception& e) {
        ADD_FAILURE() << file.path() << ": not an attnd error: " << e.what();
      }
    }
  }
  EXPECT_GT(inputs, 0) << "no regression input under " << kRoot;
}

}  // namespace
