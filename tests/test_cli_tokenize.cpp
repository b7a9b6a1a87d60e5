// `attnd tokenize`: the ids it prints are HF's (tests/data/tokenizers/expected.json, written by
// tools/hf-tokenizer-reference from Hugging Face's own library); bad input exits 2 with a message.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "cli_run.h"

namespace {

using attnd::test::run;
using nlohmann::json;

const std::string kFixtures = std::string(ATTND_SOURCE_DIR) + "/tests/data/tokenizers";

const json& hf_case(const std::string& group, size_t index) {
  static const json j = json::parse(attnd::test::read(kFixtures + "/expected.json"));
  return j.at(group).at(index);
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

TEST(CliTokenize, PrintsHfIdsForGpt2AndBert) {
  for (const auto& [group, path] :
       {std::pair<std::string, std::string>{"gpt2", kFixtures + "/gpt2-mini"},
        {"bert_uncased", kFixtures + "/bert-uncased-mini/vocab.txt"}}) {
    const json& c = hf_case(group, 0);
    const auto r = run("tokenize " + path + " --json --text " + quote(c["text"].get<std::string>()));
    ASSERT_EQ(r.code, 0) << r.output;
    const json out = json::parse(r.output);
    EXPECT_EQ(out["ids"], c["ids"]) << group;
    EXPECT_EQ(out["tokens"], c["tokens"]) << group;
  }
  // The table names the pieces; BPE pieces also as the text they stand for.
  const auto r = run("tokenize " + kFixtures + "/gpt2-mini --text 'Hello world'");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("tokenizer: bpe"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\" world\""), std::string::npos) << r.output;
}

TEST(CliTokenize, PairTruncationAndPaddingFollowHf) {
  // A pair case HF truncated with longest_first at 12.
  const json* found = nullptr;
  for (size_t k = 0; !found; ++k) {
    const json& c = hf_case("bert_uncased", k);
    if (c.contains("pair") && c.value("max_length", 0) == 12 &&
        c.value("strategy", "") == "LongestFirst" && !c.contains("error"))
      found = &c;
  }
  const auto r = run("tokenize " + kFixtures + "/bert-uncased-mini --json --max-length 12 --text " +
                     quote((*found)["text"].get<std::string>()) + " --pair " +
                     quote((*found)["pair"].get<std::string>()));
  ASSERT_EQ(r.code, 0) << r.output;
  const json out = json::parse(r.output);
  EXPECT_EQ(out["ids"], (*found)["ids"]);
  EXPECT_EQ(out["type_ids"], (*found)["type_ids"]);
  const auto padded = run("tokenize " + kFixtures + "/bert-uncased-mini --json --pad-to 8 --text the");
  ASSERT_EQ(padded.code, 0) << padded.output;
  EXPECT_EQ(json::parse(padded.output)["attention_mask"], json({1, 1, 1, 0, 0, 0, 0, 0}));
}

TEST(CliTokenize, BadInputExitsTwoWithAMessage) {
  auto r = run("tokenize /nonexistent/tok --text hi");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/tok"), std::string::npos) << r.output;
  r = run("tokenize " + kFixtures + "/gpt2-mini");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--text"), std::string::npos) << r.output;
  r = run("tokenize " + kFixtures + "/gpt2-mini --text a --file " + kFixtures + "/cases.json");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("not both"), std::string::npos) << r.output;
  r = run("tokenize " + kFixtures + "/gpt2-mini --text a --file /nonexistent/text.txt");
  EXPECT_EQ(r.code, 2) << r.output;
  r = run("tokenize " + kFixtures + "/gpt2-mini --file /nonexistent/text.txt");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/text.txt"), std::string::npos) << r.output;
  r = run("tokenize " + kFixtures + "/gpt2-mini --text a --pad-to 4");  // GPT-2 has no pad token
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("pad"), std::string::npos) << r.output;
  r = run("tokenize " + kFixtures + "/cases.json --text a");  // a JSON file that is no tokenizer
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("cases.json"), std::string::npos) << r.output;
  r = run("tokenize " + kFixtures + "/gpt2-mini --text a --truncation sideways");
  EXPECT_EQ(r.code, 2) << r.output;
  r = run("tokenize --help");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("merges.txt"), std::string::npos) << r.output;
}

}  // namespace
