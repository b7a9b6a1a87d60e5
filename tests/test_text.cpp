// Text data: WordPiece tokenizer and trainer, JSONL/TSV readers, e-mail text, SpamAssassin and the
// English corpus (fetched by scripts/fetch-data), classification and language-model batches.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "attnd/core/error.h"
#include "attnd/data/data_dir.h"
#include "attnd/data/email.h"
#include "attnd/data/english_corpus.h"
#include "attnd/data/sotu_party.h"
#include "attnd/data/spam_assassin.h"
#include "attnd/data/text_batches.h"
#include "attnd/data/text_dataset.h"
#include "attnd/data/utf8.h"
#include "attnd/data/wordpiece.h"
#include "attnd/train/objectives.h"
#include "test_utils.h"

namespace attnd {
namespace {

using test::test_data_dir;

using test::error_of;
using test::TempDir;
using Strings = std::vector<std::string>;
using Ids = std::vector<int64_t>;

void write(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Whitespace runs -> one space, trimmed.
std::string squeeze(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// A hand-written BERT vocab: specials first, as the trainer makes them.
const Strings& tiny_vocab() {
  static const Strings vocab = {"[PAD]", "[UNK]",  "[CLS]", "[SEP]", "[MASK]",  // 0-4
                                "the",   "quick",  "brown", "fox",   "un",      // 5-9
                                "##aff", "##able", "jump",  "##ed",  "##s",     // 10-14
                                ",",     ".",      "!",     "'",     "hello",   // 15-19
                                "world", "a",      "##a",   "cafe",  "naive",   // 20-24
                                "中",    "文"};                                 // 25-26
  return vocab;
}

WordPieceTokenizer tiny_tokenizer(WordPieceOptions options = {}) {
  return WordPieceTokenizer(tiny_vocab(), options);
}

// ---- UTF-8 ----------------------------------------------------------------------------------

TEST(Utf8, DecodesAndRepairs) {
  const std::string s = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80";  // a é 中 😀
  size_t pos = 0;
  std::vector<char32_t> cps;
  while (pos < s.size()) cps.push_back(next_code_point(s, pos));
  EXPECT_EQ(cps, (std::vector<char32_t>{'a', 0xE9, 0x4E2D, 0x1F600}));
  EXPECT_TRUE(is_valid_utf8(s));
  EXPECT_FALSE(is_valid_utf8("caf\xE9"));       // Latin-1 é
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));      // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));  // surrogate
  EXPECT_FALSE(is_valid_utf8("\xE4\xB8"));      // truncated
  EXPECT_EQ(to_valid_utf8("caf\xE9"), "caf\xC3\xA9");
  EXPECT_EQ(to_valid_utf8(s), s);
}

// ---- basic tokenizer and WordPiece ------------------------------------------------------------

TEST(WordPiece, BasicTokenizerSplitsPunctuationAndLowercases) {
  const auto tok = tiny_tokenizer();
  EXPECT_EQ(tok.basic_tokenize("Hello, World!"), (Strings{"hello", ",", "world", "!"}));
  EXPECT_EQ(tok.basic_tokenize("  The QUICK fox's...\n"),
            (Strings{"the", "quick", "fox", "'", "s", ".", ".", "."}));
  EXPECT_EQ(tok.basic_tokenize("e-mail: a@b.c"),
            (Strings{"e", "-", "mail", ":", "a", "@", "b", ".", "c"}));
  // Accents (precomposed and combining), Latin-1 / Latin Extended-A capitals.
  EXPECT_EQ(tok.basic_tokenize("Caf\xC3\xA9 Na\xC3\xAFve \xC3\x85ngstr\xC3\xB6m \xC5\x81\xC3\xB3"
                               "d\xC5\xBA"),
            (Strings{"cafe", "naive", "angstrom", "\xC5\x82odz"}));  // Ł has no decomposition
  EXPECT_EQ(tok.basic_tokenize("cafe\xCC\x81"), (Strings{"cafe"}));  // e + combining acute
  // Control characters vanish (joining their neighbours, as in BERT); Unicode spaces split.
  EXPECT_EQ(tok.basic_tokenize("a\x01"
                               "b\tc\xC2\xA0"
                               "d\xE2\x80\x8B"
                               "e"),
            (Strings{"ab", "c", "de"}));
  // CJK ideographs stand alone; Unicode punctuation splits (« » … —).
  EXPECT_EQ(tok.basic_tokenize("\xE4\xB8\xAD\xE6\x96\x87x"), (Strings{"中", "文", "x"}));
  EXPECT_EQ(tok.basic_tokenize("\xC2\xAB"
                               "a\xE2\x80\xA6"
                               "b\xE2\x80\x94"
                               "c\xC2\xBB"),
            (Strings{"\xC2\xAB", "a", "\xE2\x80\xA6", "b", "\xE2\x80\x94", "c", "\xC2\xBB"}));
  // Invalid UTF-8 bytes are dropped like U+FFFD.
  EXPECT_EQ(tok.basic_tokenize("ab\xFF"
                               "c"),
            (Strings{"abc"}));
}

TEST(WordPiece, CasedOptionsKeepCaseAndAccents) {
  const auto tok = tiny_tokenizer({/*lowercase=*/false, /*strip_accents=*/false});
  EXPECT_EQ(tok.basic_tokenize("Caf\xC3\xA9, OK"), (Strings{"Caf\xC3\xA9", ",", "OK"}));
  const auto strip_only = tiny_tokenizer({/*lowercase=*/false, /*strip_accents=*/true});
  EXPECT_EQ(strip_only.basic_tokenize("Caf\xC3\xA9 \xC3\x89t\xC3\xA9"), (Strings{"Cafe", "Ete"}));
}

TEST(WordPiece, GreedyLongestMatchWithContinuations) {
  const auto tok = tiny_tokenizer();
  EXPECT_EQ(tok.tokenize("unaffable"), (Strings{"un", "##aff", "##able"}));
  EXPECT_EQ(tok.tokenize("Jumped jumps JUMP"), (Strings{"jump", "##ed", "jump", "##s", "jump"}));
  // Not coverable -> the whole word is [UNK], not a partial match.
  EXPECT_EQ(tok.tokenize("unaffablex xyz fox"), (Strings{"[UNK]", "[UNK]", "fox"}));
  // "s" exists only as a continuation.
  EXPECT_EQ(tok.tokenize("fox's"), (Strings{"fox", "'", "[UNK]"}));
  // Longest match first: "a" + "##a" pieces; 100 characters are fine, 101 are [UNK].
  EXPECT_EQ(tok.tokenize("aaa"), (Strings{"a", "##a", "##a"}));
  EXPECT_EQ(tok.tokenize(std::string(100, 'a')).size(), 100u);
  EXPECT_EQ(tok.tokenize(std::string(101, 'a')), (Strings{"[UNK]"}));
  // Accents go before the lookup.
  EXPECT_EQ(tok.tokenize("CAF\xC3\x89 na\xC3\xAFve"), (Strings{"cafe", "naive"}));
}

TEST(WordPiece, EncodeAddsSpecialsAndTruncatesKeepingSep) {
  const auto tok = tiny_tokenizer();
  EXPECT_EQ(tok.encode("The quick brown fox."), (Ids{2, 5, 6, 7, 8, 16, 3}));
  EXPECT_EQ(tok.encode("The quick brown fox.", 0, false), (Ids{5, 6, 7, 8, 16}));
  EXPECT_EQ(tok.encode("The quick brown fox.", 4), (Ids{2, 5, 6, 3}));
  EXPECT_EQ(tok.encode("The quick brown fox.", 2), (Ids{2, 3}));
  EXPECT_EQ(tok.encode("The quick brown fox.", 3, false), (Ids{5, 6, 7}));
  // Truncation may cut a word's pieces (as HF does).
  EXPECT_EQ(tok.encode("unaffable", 4), (Ids{2, 9, 10, 3}));
  EXPECT_EQ(tok.encode(""), (Ids{2, 3}));
  EXPECT_TRUE(contains(error_of([&] { tok.encode("x", 1); }), "max_length 1"));
  EXPECT_EQ(tok.cls_id(), 2);
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.mask_id(), 4);
}

TEST(WordPiece, Decode) {
  const auto tok = tiny_tokenizer();
  EXPECT_EQ(tok.decode(tok.encode("Unaffable, jumped!")), "unaffable , jumped !");
  EXPECT_EQ(tok.decode(tok.encode("fox"), false), "[CLS] fox [SEP]");
  EXPECT_EQ(tok.decode({0, 4, 1, 8, 0}), "[UNK] fox");
  EXPECT_EQ(tok.decode({10, 11}), "##affable");  // a leading continuation keeps its ##, like HF
  EXPECT_TRUE(contains(error_of([&] { tok.decode({27}); }), "token id 27"));
}

TEST(WordPiece, VocabFileRoundTripAndErrors) {
  TempDir dir;
  std::string content;
  for (const auto& t : tiny_vocab()) content += t + "\r\n";  // CRLF is read too
  write(dir / "vocab.txt", content);
  EXPECT_EQ(load_vocab(dir / "vocab.txt"), tiny_vocab());
  save_vocab(dir / "saved.txt", tiny_vocab());
  EXPECT_EQ(read_text_file(dir / "saved.txt"), [] {
    std::string s;
    for (const auto& t : tiny_vocab()) s += t + "\n";
    return s;
  }());
  const auto tok = WordPieceTokenizer::from_file(dir / "saved.txt");
  EXPECT_EQ(tok.vocab(), tiny_vocab());
  EXPECT_EQ(tok.token_to_id("##able"), 11);
  EXPECT_EQ(tok.token_to_id("nope"), -1);

  write(dir / "dup.txt", "[PAD]\n[UNK]\nfox\nfox\n");
  EXPECT_TRUE(contains(error_of([&] { load_vocab(dir / "dup.txt"); }), dir / "dup.txt:4"));
  write(dir / "blank.txt", "[PAD]\n\nfox\n");
  EXPECT_TRUE(contains(error_of([&] { load_vocab(dir / "blank.txt"); }), dir / "blank.txt:2"));
  write(dir / "empty.txt", "");
  EXPECT_TRUE(contains(error_of([&] { load_vocab(dir / "empty.txt"); }), "empty"));
  EXPECT_TRUE(contains(error_of([&] { load_vocab(dir / "missing.txt"); }), dir / "missing.txt"));
  EXPECT_TRUE(contains(error_of([] {
                         WordPieceTokenizer({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"});
                       }),
                       "[MASK]"));
  EXPECT_TRUE(contains(error_of([&] { save_vocab(dir / "bad.txt", {"a\nb"}); }), "line break"));
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.txt"));
}

// ---- trainer ----------------------------------------------------------------------------------

// The Hugging Face course's corpus: hug x10, pug x5, pun x12, bun x4, hugs x5.
Strings course_corpus() {
  std::string text;
  for (auto [word, n] : std::vector<std::pair<std::string, int>>{
           {"hug", 10}, {"pug", 5}, {"pun", 12}, {"bun", 4}, {"hugs", 5}})
    for (int i = 0; i < n; ++i) text += word + " ";
  return {text};
}

TEST(WordPieceTrainer, LikelihoodMergesMatchHandComputation) {
  // Start: alphabet ##g ##n ##s ##u b h p (sorted bytes); symbol counts h 15, p 17, b 4, ##u 36,
  // ##g 20, ##n 16, ##s 5.
  // 1. (##g,##s): 5/(20*5) = 1/20 beats every other pair (all 1/36)          -> ##gs
  // 2. all pairs tie at 1/36; smallest (a, b) by bytes is (##u, ##g)         -> ##ug
  // 3. (##u,##n) 16/(21*16), (b,##u) 4/(4*21), (##u,##gs) 5/(21*5) tie at 1/21 -> ##ugs
  // 4. (h,##ugs) 5/(15*5) = 1/15 is best                                      -> hugs
  // 5. (h,##ug) 10/(10*15) = 1/15 is best                                     -> hug
  WordPieceTrainerOptions options;
  options.vocab_size = 5 + 7 + 5;
  options.min_frequency = 1;
  options.score = MergeScore::kLikelihood;
  const Strings vocab = train_wordpiece(course_corpus(), options);
  EXPECT_EQ(vocab, (Strings{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "##g", "##n", "##s",
                            "##u", "b", "h", "p", "##gs", "##ug", "##ugs", "hugs", "hug"}));
  const WordPieceTokenizer tok(vocab);
  EXPECT_EQ(tok.tokenize("hugs bugs pun"), (Strings{"hugs", "b", "##ugs", "p", "##u", "##n"}));
  EXPECT_EQ(train_wordpiece(course_corpus(), options), vocab);  // deterministic
}

TEST(WordPieceTrainer, FrequencyMergesAndMinFrequency) {
  // Pair counts: (##u,##g) 20, (p,##u) 17, (##u,##n) 16, (h,##u) 15, ... -> ##ug; then
  // (##u,##n) 16 > (h,##ug) 15 -> ##un; then (h,##ug) 15 -> hug (the course's BPE example).
  WordPieceTrainerOptions options;
  options.vocab_size = 5 + 7 + 3;
  options.min_frequency = 1;
  options.score = MergeScore::kFrequency;
  Strings vocab = train_wordpiece(course_corpus(), options);
  EXPECT_EQ(Strings(vocab.begin() + 12, vocab.end()), (Strings{"##ug", "##un", "hug"}));
  // min_frequency 16 stops before (h,##ug) (15 times), however large vocab_size is.
  options.vocab_size = 100;
  options.min_frequency = 16;
  vocab = train_wordpiece(course_corpus(), options);
  EXPECT_EQ(Strings(vocab.begin() + 12, vocab.end()), (Strings{"##ug", "##un"}));
}

TEST(WordPieceTrainer, Errors) {
  WordPieceTrainerOptions options;
  options.vocab_size = 8;  // 5 specials + 7 characters do not fit
  EXPECT_TRUE(contains(error_of([&] { train_wordpiece(course_corpus(), options); }), "alphabet"));
  options.vocab_size = 100;
  EXPECT_TRUE(contains(error_of([&] { train_wordpiece({" ", "\t"}, options); }), "no word"));
  options.min_frequency = 0;
  EXPECT_TRUE(
      contains(error_of([&] { train_wordpiece(course_corpus(), options); }), "min_frequency"));
}

// ---- JSONL / TSV readers ------------------------------------------------------------------------

TEST(TextReaders, Jsonl) {
  TempDir dir;
  write(dir / "a.jsonl",
        "{\"text\": \"free money\", \"label\": \"spam\"}\n"
        "\n"
        "{\"text\": \"lunch at noon?\", \"label\": 0, \"id\": 7}\r\n"
        "{\"label\": 1, \"text\": \"caf\\u00e9\"}");
  const auto examples = read_jsonl_examples(dir / "a.jsonl", {"ham", "spam"});
  ASSERT_EQ(examples.size(), 3u);
  EXPECT_EQ(examples[0].text, "free money");
  EXPECT_EQ(examples[0].label, 1);
  EXPECT_EQ(examples[1].label, 0);
  EXPECT_EQ(examples[2].text, "caf\xC3\xA9");
  // Integer labels need no names.
  write(dir / "b.jsonl", "{\"text\": \"x\", \"label\": 3}\n");
  EXPECT_EQ(read_jsonl_examples(dir / "b.jsonl")[0].label, 3);
}

// Inputs to attnd predict may lack labels: kOptional reads them as kNoLabel, still checking the
// labels that are given.
TEST(TextReaders, LabelsAreOptionalWhenAskedFor) {
  TempDir dir;
  const Strings names = {"ham", "spam"};
  write(dir / "u.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\", \"label\": \"spam\"}\n"
                         "{\"text\": \"c\", \"label\": null}\n");
  const auto jsonl = read_examples_file(dir / "u.jsonl", names, LabelRule::kOptional);
  ASSERT_EQ(jsonl.size(), 3u);
  EXPECT_EQ(jsonl[0].label, kNoLabel);
  EXPECT_EQ(jsonl[1].label, 1);
  EXPECT_EQ(jsonl[2].label, kNoLabel);
  EXPECT_TRUE(contains(error_of([&] { read_examples_file(dir / "u.jsonl", names); }),
                       dir / "u.jsonl:1: missing \"label\""));
  write(dir / "u.csv", "id,text\n1,\"x, y\"\n2,z\n");
  const auto csv = read_examples_file(dir / "u.csv", names, LabelRule::kOptional);
  ASSERT_EQ(csv.size(), 2u);
  EXPECT_EQ(csv[0].text, "x, y");
  EXPECT_EQ(csv[1].label, kNoLabel);
  EXPECT_TRUE(contains(error_of([&] { read_examples_file(dir / "u.csv", names); }),
                       "\"label\" column"));
  write(dir / "u.tsv", "just text\nspam\tfree money\n");
  const auto tsv = read_examples_file(dir / "u.tsv", names, LabelRule::kOptional);
  ASSERT_EQ(tsv.size(), 2u);
  EXPECT_EQ(tsv[0].text, "just text");
  EXPECT_EQ(tsv[0].label, kNoLabel);
  EXPECT_EQ(tsv[1].label, 1);
  write(dir / "bad.jsonl", "{\"text\": \"a\", \"label\": \"eggs\"}\n");
  EXPECT_TRUE(contains(
      error_of([&] { read_examples_file(dir / "bad.jsonl", names, LabelRule::kOptional); }),
      dir / "bad.jsonl:1: unknown label \"eggs\""));
}

TEST(TextReaders, JsonlErrorsNameFileAndLine) {
  TempDir dir;
  const std::string path = dir / "bad.jsonl";
  const std::string good = "{\"text\": \"ok\", \"label\": 0}\n";
  const auto error_for = [&](const std::string& second_line,
                             const Strings& names = {"ham", "spam"}) {
    write(path, good + second_line + "\n");
    return error_of([&] { read_jsonl_examples(path, names); });
  };
  const std::string at = path + ":2: ";
  EXPECT_TRUE(contains(error_for("{\"text\": \"x\", \"label\": 0"), at + "not valid JSON"));
  EXPECT_TRUE(contains(error_for("[1, 2]"), at + "expected a JSON object"));
  EXPECT_TRUE(contains(error_for("{\"label\": 0}"), at + "expected a string \"text\""));
  EXPECT_TRUE(
      contains(error_for("{\"text\": 5, \"label\": 0}"), at + "expected a string \"text\""));
  EXPECT_TRUE(contains(error_for("{\"text\": \"x\"}"), at + "missing \"label\""));
  EXPECT_TRUE(
      contains(error_for("{\"text\": \"x\", \"label\": \"eggs\"}"), at + "unknown label \"eggs\""));
  EXPECT_TRUE(contains(error_for("{\"text\": \"x\", \"label\": \"eggs\"}", {}), "(none given)"));
  EXPECT_TRUE(contains(error_for("{\"text\": \"x\", \"label\": -1}"), at + "label -1 is negative"));
  EXPECT_TRUE(
      contains(error_for("{\"text\": \"x\", \"label\": 2}"), at + "label 2 is out of range"));
  EXPECT_TRUE(contains(error_for("{\"text\": \"x\", \"label\": 1.5}"), at + "\"label\" must be"));
  write(path, "\n  \n");
  EXPECT_TRUE(contains(error_of([&] { read_jsonl_examples(path); }), "no examples in " + path));
  EXPECT_TRUE(contains(error_of([&] { read_jsonl_examples(dir / "none.jsonl"); }),
                       "file not found: " + dir / "none.jsonl"));
}

TEST(TextReaders, Tsv) {
  TempDir dir;
  write(dir / "h.tsv", "Label\tText\nspam\tfree\tmoney\r\n0\tlunch?\n\n1\t\n");
  const auto examples = read_tsv_examples(dir / "h.tsv", {"ham", "spam"});
  ASSERT_EQ(examples.size(), 3u);
  EXPECT_EQ(examples[0].text, "free\tmoney");  // tabs after the first belong to the text
  EXPECT_EQ(examples[0].label, 1);
  EXPECT_EQ(examples[1].text, "lunch?");
  EXPECT_EQ(examples[1].label, 0);
  EXPECT_EQ(examples[2].text, "");
  write(dir / "n.tsv", "2\thello\n0\tbye\n");  // no header
  const auto plain = read_tsv_examples(dir / "n.tsv");
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_EQ(plain[0].label, 2);
  EXPECT_EQ(plain[1].text, "bye");
}

TEST(TextReaders, TsvErrorsNameFileAndLine) {
  TempDir dir;
  const std::string path = dir / "bad.tsv";
  const auto error_for = [&](const std::string& content, const Strings& names) {
    write(path, content);
    return error_of([&] { read_tsv_examples(path, names); });
  };
  EXPECT_TRUE(
      contains(error_for("0\tok\nno tab here\n", {}), path + ":2: expected label<TAB>text"));
  EXPECT_TRUE(contains(error_for("label\ttext\n0\tok\neggs\tx\n", {"ham", "spam"}),
                       path + ":3: unknown label \"eggs\""));
  EXPECT_TRUE(contains(error_for("spam\tx\n", {}), path + ":1: label \"spam\" is not an integer"));
  EXPECT_TRUE(
      contains(error_for("0\tok\n5\tx\n", {"ham", "spam"}), path + ":2: label 5 is out of range"));
  EXPECT_TRUE(contains(error_for("-3\tx\n", {}), path + ":1: label -3 is negative"));
  EXPECT_TRUE(contains(error_for("label\ttext\n", {}), "no examples in " + path));
}

TEST(TextReaders, CsvQuotedFieldsAndAnyColumnOrder) {
  TempDir dir;
  write(dir / "a.csv",
        "id,Label,text\r\n"
        "7,spam,\"free, \"\"cheap\"\" money\"\n"
        "8,0,\"two\nlines\"\n"
        "\n"
        "9,1,plain\n");
  const auto examples = read_csv_examples(dir / "a.csv", {"ham", "spam"});
  ASSERT_EQ(examples.size(), 3u);
  EXPECT_EQ(examples[0].text, "free, \"cheap\" money");
  EXPECT_EQ(examples[0].label, 1);
  EXPECT_EQ(examples[1].text, "two\nlines");
  EXPECT_EQ(examples[1].label, 0);
  EXPECT_EQ(examples[2].text, "plain");
  // By extension.
  EXPECT_EQ(read_examples_file(dir / "a.csv", {"ham", "spam"}).size(), 3u);
  EXPECT_TRUE(contains(error_of([&] { read_examples_file(dir / "a.txt"); }), "unknown file type '.txt'"));
}

TEST(TextReaders, CsvErrorsNameFileAndLine) {
  TempDir dir;
  const std::string path = dir / "bad.csv";
  const auto error_for = [&](const std::string& content) {
    write(path, content);
    return error_of([&] { read_csv_examples(path, {"ham", "spam"}); });
  };
  EXPECT_TRUE(contains(error_for("words,label\nx,0\n"), path + ":1: the header must name"));
  EXPECT_TRUE(contains(error_for("text,label\nx,0\n\"y\nz\",1,3\n"),
                       path + ":3: expected 2 comma-separated fields"));
  EXPECT_TRUE(contains(error_for("text,label\nx,0\n\"open,1\n"), path + ":3: a quoted CSV field is never closed"));
  EXPECT_TRUE(contains(error_for("text,label\nsa\"y,0\n"), path + ":2: a quote inside an unquoted"));
  EXPECT_TRUE(contains(error_for("text,label\nx,eggs\n"), path + ":2: unknown label \"eggs\""));
  EXPECT_TRUE(contains(error_for("text,label\n"), "no examples in " + path));
}

TEST(TextReaders, JsonlWriterRoundTrips) {
  TempDir dir;
  const std::vector<TextExample> examples = {{"a \"quoted\"\ttab\nline", 1}, {"caf\xc3\xa9", 0}};
  write(dir / "w.jsonl", examples_to_jsonl(examples, {"ham", "spam"}));
  EXPECT_TRUE(contains(read_text_file(dir / "w.jsonl"), "\"label\":\"spam\""));
  const auto back = read_jsonl_examples(dir / "w.jsonl", {"ham", "spam"});
  ASSERT_EQ(back.size(), 2u);
  for (size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].text, examples[i].text);
    EXPECT_EQ(back[i].label, examples[i].label);
  }
  write(dir / "ids.jsonl", examples_to_jsonl(examples));  // no names: ids
  EXPECT_EQ(read_jsonl_examples(dir / "ids.jsonl")[0].label, 1);
}

TEST(SotuParty, PassagesAreWholeSentencesOfAtLeastNWords) {
  // 3-word sentences; 5 words per passage: a passage closes at the first sentence end at or
  // after 5 words, so two sentences (6 words) each; the last lone sentence (3 >= 5/2) is kept.
  const auto passages = sentence_passages("a b c. d e f! g h i? j k l. m n \"o.\"", 5);
  ASSERT_EQ(passages.size(), 3u);
  EXPECT_EQ(passages[0], "a b c. d e f!");
  EXPECT_EQ(passages[1], "g h i? j k l.");
  EXPECT_EQ(passages[2], "m n \"o.\"");
  // No sentence end: cut at 2n words; a remainder below n/2 is dropped.
  EXPECT_EQ(sentence_passages("w w w w w w w w w", 4).size(), 1u);  // 8 words, then 1 dropped
  EXPECT_TRUE(contains(error_of([] { sentence_passages("x", 1); }), "passage_words must be >= 2"));
}

TEST(SotuParty, SplitsByAddressStratifiedByParty) {
  std::vector<PartyAddress> addresses;
  for (int i = 0; i < 20; ++i)
    addresses.push_back({"addr" + std::to_string(i), i % 2,
                         {"p" + std::to_string(i) + "a", "p" + std::to_string(i) + "b"}});
  const auto s = split_party_addresses(addresses, 0.2, 0.2, 3);
  // Per party: 10 addresses, 2 val, 2 test, 6 train; two passages each.
  EXPECT_EQ(s.train.size(), 24u);
  EXPECT_EQ(s.val.size(), 8u);
  EXPECT_EQ(s.test.size(), 8u);
  std::set<std::string> train_addresses, test_addresses;
  for (const auto& e : s.train) train_addresses.insert(e.text.substr(0, e.text.size() - 1));
  for (const auto& e : s.test) test_addresses.insert(e.text.substr(0, e.text.size() - 1));
  for (const auto& a : test_addresses) EXPECT_FALSE(train_addresses.count(a)) << a;
  for (const auto& e : s.test) EXPECT_EQ(e.label, std::stoi(e.text.substr(1)) % 2);
}

TEST(SotuParty, PackagedCorpusHasBothParties) {
  SKIP_WITHOUT(kEnglishCorpusName);
  const auto addresses = load_sotu_party(test_data_dir() + "/" + kEnglishCorpusName);
  int64_t democratic = 0, republican = 0, passages = 0;
  for (const auto& a : addresses) {
    (a.label == 0 ? democratic : republican) += 1;
    passages += static_cast<int64_t>(a.passages.size());
  }
  EXPECT_EQ(democratic, 90);
  EXPECT_EQ(republican, 92);
  EXPECT_GT(passages, 10000);
}

// ---- splits -------------------------------------------------------------------------------------

TEST(TextSplit, StratifiedDeterministicDisjoint) {
  std::vector<int64_t> labels;
  for (int i = 0; i < 40; ++i) labels.push_back(i % 4 == 0 ? 0 : 1);  // 10 of class 0, 30 of 1
  const SplitIndices s = stratified_split(labels, 0.1, 0.2, 7);
  // class 0: test round(2) = 2, val 1, train 7; class 1: test 6, val 3, train 21.
  EXPECT_EQ(s.test.size(), 8u);
  EXPECT_EQ(s.val.size(), 4u);
  EXPECT_EQ(s.train.size(), 28u);
  const auto count0 = [&](const std::vector<int64_t>& part) {
    return std::count_if(part.begin(), part.end(),
                         [&](int64_t i) { return labels[static_cast<size_t>(i)] == 0; });
  };
  EXPECT_EQ(count0(s.test), 2);
  EXPECT_EQ(count0(s.val), 1);
  std::set<int64_t> all(s.train.begin(), s.train.end());
  all.insert(s.val.begin(), s.val.end());
  all.insert(s.test.begin(), s.test.end());
  EXPECT_EQ(all.size(), 40u);
  EXPECT_TRUE(std::is_sorted(s.train.begin(), s.train.end()));
  const SplitIndices again = stratified_split(labels, 0.1, 0.2, 7);
  EXPECT_EQ(again.test, s.test);
  EXPECT_EQ(again.val, s.val);
  EXPECT_NE(stratified_split(labels, 0.1, 0.2, 8).test, s.test);
  EXPECT_TRUE(contains(error_of([&] { stratified_split(labels, 0.6, 0.5, 0); }), "fractions"));
  EXPECT_TRUE(contains(error_of([&] { stratified_split(labels, -0.1, 0.5, 0); }), "fractions"));
}

// ---- e-mail text
// ---------------------------------------------------------------------------------

TEST(Email, DecodersAndHtml) {
  EXPECT_EQ(decode_quoted_printable("caf=C3=A9 =3D x=\nyz =zz"), "caf\xC3\xA9 = xyz =zz");
  EXPECT_EQ(decode_base64("aGVsbG8g\nd29ybGQ="), "hello world");
  EXPECT_EQ(squeeze(html_to_text("<html><style>p{}</style><p>Buy&nbsp;now &amp; save</p><!-- x -->"
                                 "<br>&#65;&#x42;&bogus;<script>alert(1)</script>!</html>")),
            "Buy now & save AB&bogus; !");
  EXPECT_EQ(html_to_text("a<br>b"), "a b");  // a tag separates words
  EXPECT_EQ(decode_encoded_words("=?utf-8?Q?Caf=C3=A9_au_lait?= & =?ISO-8859-1?B?aGk=?="),
            "Caf\xC3\xA9 au lait & hi");
}

TEST(Email, SubjectAndBodyWithoutHeaders) {
  const std::string plain =
      "From someone@example.com  Thu Aug 22 12:36:23 2002\r\n"
      "Received: from mail.example.com\r\n"
      "  by relay; Thu, 22 Aug 2002\r\n"
      "Subject: Meeting\r\n"
      "  tomorrow\r\n"
      "\r\n"
      "See you   at 10.\r\n\r\nBob\r\n";
  EXPECT_EQ(email_to_text(plain), "Meeting tomorrow\nSee you at 10. Bob");

  const std::string multipart =
      "Subject: =?iso-8859-1?Q?Gr=FC=DFe?=\n"
      "Content-Type: multipart/mixed; boundary=\"outer\"\n"
      "\n"
      "preamble is ignored\n"
      "--outer\n"
      "Content-Type: multipart/alternative; boundary=inner\n"
      "\n"
      "--inner\n"
      "Content-Type: text/html\n"
      "\n"
      "<p>HTML version</p>\n"
      "--inner\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "Content-Transfer-Encoding: quoted-printable\n"
      "\n"
      "Plain vers=\n"
      "ion =E2=9C=93\n"
      "--inner--\n"
      "--outer\n"
      "Content-Type: image/png\n"
      "Content-Transfer-Encoding: base64\n"
      "\n"
      "iVBORw0KGgo=\n"
      "--outer\n"
      "Content-Type: text/plain\n"
      "Content-Transfer-Encoding: base64\n"
      "\n"
      "U2Vjb25kIHBhcnQ=\n"
      "--outer--\n"
      "epilogue\n";
  EXPECT_EQ(email_to_text(multipart),
            "Gr\xC3\xBC\xC3\x9F"
            "e\nPlain version \xE2\x9C\x93 Second part");

  const std::string html_only =
      "Subject: WIN\nContent-Type: text/html\n\n<html><body><b>You won</b> caf\xE9</body></html>";
  EXPECT_EQ(email_to_text(html_only), "WIN\nYou won caf\xC3\xA9");
  EXPECT_EQ(email_to_text("just a body line\nand another"), "\njust a body line and another");
}

// ---- classification and LM datasets
// ---------------------------------------------------------------

TEST(TextBatches, ClassificationBatchesPadToLongest) {
  const auto tok = tiny_tokenizer();
  const std::vector<TextExample> examples = {
      {"the quick brown fox", 0}, {"Hello!", 1}, {"unaffable jumped jumps", 1}};
  const TextClassificationDataset data(examples, tok, 6);
  ASSERT_EQ(data.size(), 3);
  EXPECT_EQ(data.num_classes(), 2);
  EXPECT_EQ(data.token_ids(2), (Ids{2, 9, 10, 11, 12, 3}));  // truncated, [SEP] kept
  const Batch b = data.get({1, 0}, 0);
  test::expect_tensors_equal(
      b.input.input_ids,
      torch::tensor({2, 19, 17, 3, 0, 0, 2, 5, 6, 7, 8, 3}, torch::kLong).view({2, 6}));
  test::expect_tensors_equal(
      b.input.attention_mask,
      torch::tensor({1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1}, torch::kLong).view({2, 6}));
  test::expect_tensors_equal(b.input.token_type_ids, torch::zeros({2, 6}, torch::kLong));
  test::expect_tensors_equal(b.labels, torch::tensor({1, 0}, torch::kLong));
  // A short batch is short.
  EXPECT_EQ(data.get({1}, 0).input.input_ids.sizes(), (std::vector<int64_t>{1, 4}));
}

TEST(TextBatches, ClassificationBatchesPadToMaxLength) {
  const auto tok = tiny_tokenizer();
  const TextClassificationDataset data({{"hello", 0}, {"fox", 2}}, tok, 8, TextPadding::kMaxLength);
  EXPECT_EQ(data.num_classes(), 3);
  const Batch b = data.get({0, 1}, 0);
  EXPECT_EQ(b.input.input_ids.sizes(), (std::vector<int64_t>{2, 8}));
  EXPECT_EQ(b.input.attention_mask.sum().item<int64_t>(), 6);
  EXPECT_EQ(b.input.input_ids.dtype(), torch::kLong);
  EXPECT_TRUE(contains(error_of([&] {
                         TextClassificationDataset({{"x", 3}}, tok, 8, TextPadding::kLongest, 2);
                       }),
                       "label 3"));
  EXPECT_TRUE(contains(error_of([&] {
                         TextClassificationDataset({{"x", 0}}, tok, 1);
                       }),
                       "max_length"));
}

TEST(TextBatches, LanguageModelBlocksMatchTheLossShift) {
  const auto tok = tiny_tokenizer();
  const Ids stream = token_stream({"the quick fox", "hello world"}, tok);
  EXPECT_EQ(stream, (Ids{5, 6, 8, 3, 19, 20, 3}));  // [SEP] closes each document

  Ids tokens(11);
  for (int64_t i = 0; i < 11; ++i) tokens[static_cast<size_t>(i)] = 100 + i;
  const LanguageModelDataset data(tokens, 4);
  ASSERT_EQ(data.size(), 2);  // 100..103, 104..107; 108..110 dropped
  const Batch b = data.get({1, 0}, 0);
  test::expect_tensors_equal(
      b.input.input_ids,
      torch::tensor({104, 105, 106, 107, 100, 101, 102, 103}, torch::kLong).view({2, 4}));
  test::expect_tensors_equal(b.labels, b.input.input_ids);

  // Logits that put all mass on the true next token of the stream: the objective's shift must
  // pair them with these labels for a loss of ~0; a model "predicting" the current token is wrong.
  const int64_t vocab = 120;
  auto next = torch::zeros({2, 4, vocab});
  auto same = torch::zeros({2, 4, vocab});
  const int64_t starts[2] = {104, 100};
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t t = 0; t < 4; ++t) {
      next.index_put_({r, t, starts[r] + t + 1}, 50.0);
      same.index_put_({r, t, starts[r] + t}, 50.0);
    }
  EXPECT_LT(language_model_loss(next, b.labels).item<double>(), 1e-6);
  EXPECT_GT(language_model_loss(same, b.labels).item<double>(), 10.0);

  EXPECT_TRUE(contains(error_of([&] {
                         LanguageModelDataset(Ids{1, 2, 3}, 4);
                       }),
                       "shorter than one block"));
  EXPECT_TRUE(contains(error_of([&] { LanguageModelDataset(Ids{1, 2, 3}, 1); }), "block_size"));
}

TEST(DataDir, EnvironmentOverride) {
  const char* old = std::getenv("ATTND_DATA_DIR");
  const std::string saved = old ? old : "";
  ::setenv("ATTND_DATA_DIR", "/somewhere/data", 1);
  EXPECT_EQ(default_data_dir(), "/somewhere/data");
  EXPECT_EQ(data_path(kSpamAssassinName), "/somewhere/data/spam-assassin");
  ::unsetenv("ATTND_DATA_DIR");
  EXPECT_EQ(default_data_dir(), "data");
  if (old) ::setenv("ATTND_DATA_DIR", saved.c_str(), 1);
}

// ---- the real corpora
// -----------------------------------------------------------------------------

// Words the tokenizer cannot cover are [UNK] whole; here only overlong ones can be.
std::string expected_decode(const WordPieceTokenizer& tok, const std::string& text) {
  std::string out;
  for (const auto& w : tok.basic_tokenize(text)) {
    size_t pos = 0, chars = 0;
    while (pos < w.size()) next_code_point(w, pos), ++chars;
    out += (out.empty() ? "" : " ") + (chars > 100 ? std::string("[UNK]") : w);
  }
  return out;
}

TEST(SpamAssassin, CountsPerGroupAndClass) {
  SKIP_WITHOUT(kSpamAssassinName);
  const std::string dir = test_data_dir() + "/" + kSpamAssassinName;
  // Oracle, from the package itself (not this reader):
  //   for g in easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2; do
  //     ls data/spam-assassin/data/$g | grep -c '\.txt$'; done      -> 2500 1400 250 500 1396
  //   (the same counts as grep -c "\"$g/" data/spam-assassin/data/file_list.json)
  const std::vector<std::pair<std::string, size_t>> expected = {{"easy-ham-1", 2500},
                                                                {"easy-ham-2", 1400},
                                                                {"hard-ham-1", 250},
                                                                {"spam-1", 500},
                                                                {"spam-2", 1396}};
  for (const auto& [group, n] : expected) {
    const auto examples = load_spam_assassin(dir, {group});
    EXPECT_EQ(examples.size(), n) << group;
    for (const auto& e : examples) ASSERT_EQ(e.label, spam_assassin_label(group)) << group;
  }
  const auto all = load_spam_assassin(dir);
  ASSERT_EQ(all.size(), 6046u);
  EXPECT_EQ(label_counts(all), (Ids{4150, 1896}));
  // grep -m1 '^Subject:' .../easy-ham-1/00001.*.txt -> "Subject: Re: New Sequences Window"
  EXPECT_EQ(all.front().text.rfind("Re: New Sequences Window\n", 0), 0u)
      << all.front().text.substr(0, 80);
  // grep -m1 '^Subject:' .../spam-2/01400.*.txt -> "Subject: [ILUG] WILSON  KAMELA"
  EXPECT_EQ(all.back().text.rfind("[ILUG] WILSON KAMELA\n", 0), 0u)
      << all.back().text.substr(0, 80);
  size_t with_received = 0, empty_body = 0;
  for (const auto& e : all) {
    ASSERT_TRUE(is_valid_utf8(e.text));
    with_received += contains(e.text, "Received: from");
    empty_body += e.text.size() == e.text.find('\n') + 1;
  }
  EXPECT_LT(with_received, 20u);  // headers are gone (a few forwarded messages quote them)
  EXPECT_LT(empty_body, 30u);     // almost every message has readable text
  // The package folder or its data/ folder.
  EXPECT_EQ(load_spam_assassin(dir + "/data", {"hard-ham-1"}).size(), 250u);
  EXPECT_TRUE(
      contains(error_of([&] { load_spam_assassin(dir, {"ham"}); }), "unknown SpamAssassin group"));
  EXPECT_TRUE(contains(error_of([] { load_spam_assassin("/no/such/dir"); }), "/no/such/dir"));

  // Stratified 80/10/10 split keeps the class ratio.
  const SplitIndices split = stratified_split(labels_of(all), 0.1, 0.1, 0);
  EXPECT_EQ(label_counts(select_examples(all, split.test)), (Ids{415, 190}));
  EXPECT_EQ(label_counts(select_examples(all, split.val)), (Ids{415, 190}));
  EXPECT_EQ(split.train.size(), 6046u - 2 * 605);
}

TEST(SpamAssassin, TokenizerRoundTripAndBatches) {
  SKIP_WITHOUT(kSpamAssassinName);
  auto examples = load_spam_assassin(test_data_dir() + "/" + kSpamAssassinName);
  // Every 10th message keeps the test fast.
  std::vector<TextExample> sample;
  for (size_t i = 0; i < examples.size(); i += 10) sample.push_back(examples[i]);
  Strings texts;
  for (const auto& e : sample) texts.push_back(e.text);
  WordPieceTrainerOptions options;
  options.vocab_size = 3000;
  const WordPieceTokenizer tok(train_wordpiece(texts, options));
  for (const auto& text : texts)
    ASSERT_EQ(tok.decode(tok.encode(text)), expected_decode(tok, text)) << text.substr(0, 200);

  const TextClassificationDataset data(sample, tok, 128);
  EXPECT_EQ(data.num_classes(), 2);
  const Batch b = data.get({0, 1, 2, 3, static_cast<int64_t>(sample.size()) - 1}, 0);
  EXPECT_EQ(b.input.input_ids.size(0), 5);
  EXPECT_LE(b.input.input_ids.size(1), 128);
  EXPECT_TRUE(b.input.attention_mask.select(1, 0).eq(1).all().item<bool>());
  // Where the mask is 0 the id is [PAD]; each row has exactly one [CLS] and one [SEP].
  EXPECT_TRUE(b.input.input_ids.masked_select(b.input.attention_mask.eq(0))
                  .eq(tok.pad_id())
                  .all()
                  .item<bool>());
  test::expect_tensors_equal(b.input.input_ids.eq(tok.sep_id()).sum(1),
                             torch::ones({5}, torch::kLong));
  EXPECT_EQ(b.labels[4].item<int64_t>(), kSpam);
}

TEST(EnglishCorpus, DocumentsSplitAndRoundTrip) {
  SKIP_WITHOUT(kEnglishCorpusName);
  const std::string dir = test_data_dir() + "/" + kEnglishCorpusName;
  // Oracle: ls data/sotu/data/*.txt | wc -l -> 233; cat data/sotu/data/*.txt | wc -c -> 10761413;
  // head -c 36 data/sotu/data/1790_george_washington_n.txt.
  const auto docs = load_english_corpus_documents(dir);
  ASSERT_EQ(docs.size(), 233u);
  EXPECT_EQ(docs.front().name, "1790_george_washington_n");
  EXPECT_EQ(docs.back().name, "2021_joseph_r_biden_d");
  EXPECT_EQ(docs.front().text.substr(0, 36), "Fellow-Citizens of the Senate and Ho");
  size_t bytes = 0;
  for (const auto& d : docs) bytes += d.text.size();
  EXPECT_EQ(bytes, 10761413u);

  const Strings texts = load_english_corpus(dir);
  const CorpusSplit split = split_corpus(texts);  // 10% / 10% of 233 -> 23 / 23 / 187
  EXPECT_EQ(split.val.size(), 23u);
  EXPECT_EQ(split.test.size(), 23u);
  EXPECT_EQ(split.train.size(), 187u);
  std::set<std::string> seen(split.train.begin(), split.train.end());
  for (const auto& d : split.val) EXPECT_TRUE(seen.insert(d).second);
  for (const auto& d : split.test) EXPECT_TRUE(seen.insert(d).second);
  EXPECT_EQ(split_corpus(texts).test, split.test);

  // A vocab trained on every 4th address covers nearly all of the held-out ones; decoding gives
  // back the basic-tokenised text wherever no [UNK] was needed.
  Strings train;
  for (size_t i = 0; i < texts.size(); i += 4) train.push_back(texts[i]);
  WordPieceTrainerOptions options;
  options.vocab_size = 2000;
  const WordPieceTokenizer tok(train_wordpiece(train, options));
  for (const auto& text : train)
    ASSERT_EQ(tok.decode(tok.encode(text)), expected_decode(tok, text));
  int64_t total = 0, unknown = 0;
  for (const auto& text : split.test) {
    const Ids ids = tok.encode(text, 0, false);
    total += static_cast<int64_t>(ids.size());
    unknown += std::count(ids.begin(), ids.end(), tok.unk_id());
  }
  EXPECT_LT(static_cast<double>(unknown) / static_cast<double>(total), 1e-3);

  const LanguageModelDataset lm(token_stream(split.val, tok), 64);
  EXPECT_GT(lm.size(), 1000);
  const Batch b = lm.get({0, lm.size() - 1}, 0);
  EXPECT_EQ(b.input.input_ids.sizes(), (std::vector<int64_t>{2, 64}));
  EXPECT_LT(b.input.input_ids.max().item<int64_t>(), tok.vocab_size());
}

}  // namespace
}  // namespace attnd
