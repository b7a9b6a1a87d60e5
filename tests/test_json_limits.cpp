// The checks made on JSON text before parsing (io/json_limits.h): deep nesting, a number past a
// double's range, and the readers that use them (read_json_file, the safetensors header).
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <string>

#include "attnd/io/json_file.h"
#include "attnd/io/json_limits.h"
#include "attnd/io/safetensors.h"
#include "cli_run.h"
#include "test_utils.h"

namespace {

using attnd::test::error_of;

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(JsonLimits, DepthUpToTheLimitParsesAndOneMoreIsRefused) {
  EXPECT_TRUE(attnd::parse_json_text(nested(attnd::kMaxJsonDepth), "x").is_array());
  const auto message = error_of([] { attnd::parse_json_text(nested(attnd::kMaxJsonDepth + 1), "f.json"); });
  EXPECT_NE(message.find("f.json: JSON nests deeper than 512 levels at byte 512"), std::string::npos)
      << message;
}

TEST(JsonLimits, BracketsInsideStringsDoNotCount) {
  const std::string text = "{\"k\": \"" + std::string(5000, '[') + "\\\"\"}";
  EXPECT_TRUE(attnd::parse_json_text(text, "x").is_object());
}

TEST(JsonLimits, OverflowingNumberNamesItsKeyPath) {
  const auto message =
      error_of([] { attnd::parse_json_text("{\"a\": {\"b\": [1, 1e400]}}", "c.json"); });
  EXPECT_NE(message.find("c.json: key path a.b[1]: the number 1e400 overflows a double"),
            std::string::npos)
      << message;
  EXPECT_NE(error_of([] { attnd::parse_json_text("[-1e400]", "x"); }).find("[0]"),
            std::string::npos);
  EXPECT_DOUBLE_EQ(attnd::parse_json_text("[1e300]", "x")[0].get<double>(), 1e300);
}

// 70,000 levels overflowed the stack in nlohmann's parser (SIGSEGV): now an InputError, fast.
TEST(JsonLimits, SeventyThousandDeepFileAndHeaderAreInputErrors) {
  attnd::test::TempDir tmp;
  attnd::test::write(tmp / "deep.json", "{\"a\": " + nested(70000) + "}");
  const auto t0 = std::chrono::steady_clock::now();
  const auto message = error_of([&] { attnd::read_json_file(tmp / "deep.json"); });
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(message.find("deep.json: JSON nests deeper than 512 levels"), std::string::npos) << message;
  EXPECT_LT(ms, 1000.0);

  const std::string header = "{\"w\":{\"dtype\":\"F32\",\"shape\":" + nested(70000) +
                             ",\"data_offsets\":[0,0]}}";
  std::string bytes(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes += header;
  const auto st = error_of([&] { attnd::parse_safetensors(bytes, "deep.safetensors"); });
  EXPECT_NE(st.find("deep.safetensors: header: JSON nests deeper than 512 levels"), std::string::npos)
      << st;
}

}  // namespace
