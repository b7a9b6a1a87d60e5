// Recipe configuration: schema, TOML loading, --set overrides, errors and round trips; and the
// core string helpers.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "attnd/core/config.h"
#include "attnd/core/error.h"
#include "attnd/core/parse_number.h"
#include "attnd/core/strings.h"
#include "attnd/core/suggest.h"
#include "attnd/io/atomic_file.h"
#include "test_utils.h"

namespace attnd {
namespace {

using test::TempDir;
using test::error_of;

ConfigSchema make_schema() {
  ConfigSchema s;
  s.add("seed", 0, "seed of every RNG")
      .add("train.lr", 1e-3, "peak learning rate")
      .add("train.steps", 100, "optimizer steps")
      .add("train.use_amp", false, "mixed precision")
      .add("run.name", "default", "run directory name")
      .add("data.layers", std::vector<int64_t>{0, 1}, "layers to distill")
      .add("data.weights", std::vector<double>{0.5, 2.0}, "loss weights")
      .add("data.classes", std::vector<std::string>{"a", "b"}, "class names")
      .add_table("model", "model config (free form)")
      .add_table_list("distill.loss", "loss terms");
  return s;
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(Suggest, EditDistanceByHand) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("lr", "rl"), 1u);  // one transposition
  EXPECT_EQ(edit_distance("learning_rate", "lerning_rate"), 1u);
}

TEST(Suggest, ClosestMatch) {
  const std::vector<std::string> keys = {"train.lr", "train.steps", "train.learning_rate", "run.name"};
  EXPECT_EQ(closest_match("train.lerning_rate", keys), "train.learning_rate");
  EXPECT_EQ(closest_match("train.setps", keys), "train.steps");
  EXPECT_EQ(closest_match("lr", keys), "train.lr");            // section missing
  EXPECT_EQ(closest_match("optim.steps", keys), "train.steps");  // wrong section
  EXPECT_EQ(closest_match("completely.different", keys), "");
}

TEST(Suggest, CheckKnownKeys) {
  EXPECT_NO_THROW(check_known_keys({"a.b"}, {"a.b", "c"}, "x.toml"));
  EXPECT_EQ(error_of([] { check_known_keys({"train.lerning_rate"}, {"train.learning_rate"}, "recipes/x.toml"); }),
            "unknown key 'train.lerning_rate' in recipes/x.toml (did you mean 'train.learning_rate'?)");
  const std::string msg = error_of([] { check_known_keys({"zzzzzz"}, {"alpha", "beta"}, "x.toml"); });
  EXPECT_NE(msg.find("valid keys: alpha, beta"), std::string::npos) << msg;
}

TEST(Config, Defaults) {
  const Config c = Config::load(make_schema(), "");
  EXPECT_EQ(c.get_int("seed"), 0);
  EXPECT_DOUBLE_EQ(c.get_double("train.lr"), 1e-3);
  EXPECT_EQ(c.get_int("train.steps"), 100);
  EXPECT_FALSE(c.get_bool("train.use_amp"));
  EXPECT_EQ(c.get_string("run.name"), "default");
  EXPECT_EQ(c.get_int_list("data.layers"), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(c.get_double_list("data.weights"), (std::vector<double>{0.5, 2.0}));
  EXPECT_EQ(c.get_string_list("data.classes"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c.table_json("model"), nlohmann::json::object());
  EXPECT_EQ(c.table_json("distill.loss"), nlohmann::json::array());
}

TEST(Config, FileThenOverrides) {
  TempDir dir;
  write(dir / "r.toml", R"(
seed = 7
[train]
lr = 2          # an integer where a float is declared is fine
steps = 50
[run]
name = "from-file"
[data]
layers = [3, 4, 5]
)");
  Config c = Config::load(make_schema(), dir / "r.toml");
  EXPECT_EQ(c.get_int("seed"), 7);
  EXPECT_DOUBLE_EQ(c.get_double("train.lr"), 2.0);
  EXPECT_EQ(c.get_int("train.steps"), 50);
  EXPECT_EQ(c.get_string("run.name"), "from-file");
  EXPECT_EQ(c.get_int_list("data.layers"), (std::vector<int64_t>{3, 4, 5}));
  EXPECT_FALSE(c.get_bool("train.use_amp"));  // untouched default

  c = Config::load(make_schema(), dir / "r.toml", {"train.steps=9", "run.name=cli"});
  EXPECT_EQ(c.get_int("train.steps"), 9);     // --set beats the file
  EXPECT_EQ(c.get_string("run.name"), "cli");
  EXPECT_EQ(c.get_int("seed"), 7);            // file beats the default
}

TEST(Config, SetValuesAreTypedTomlValues) {
  const Config c = Config::load(
      make_schema(), "",
      {"train.lr=1e-4", "train.steps = 3", "train.use_amp=true", "run.name=bare_word",
       "data.layers=[1, 2]", "data.weights=[1, 2.5]", "data.classes=[\"x\", \"y z\"]",
       "model.hidden_size=64", "model.act=gelu", "model.dropout=0.0", "model.sub.deep=[1,2]",
       "seed=3"});
  EXPECT_DOUBLE_EQ(c.get_double("train.lr"), 1e-4);
  EXPECT_EQ(c.get_int("train.steps"), 3);
  EXPECT_TRUE(c.get_bool("train.use_amp"));
  EXPECT_EQ(c.get_string("run.name"), "bare_word");
  EXPECT_EQ(c.get_int_list("data.layers"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(c.get_double_list("data.weights"), (std::vector<double>{1.0, 2.5}));
  EXPECT_EQ(c.get_string_list("data.classes"), (std::vector<std::string>{"x", "y z"}));
  const auto model = c.table_json("model");
  EXPECT_TRUE(model["hidden_size"].is_number_integer());
  EXPECT_EQ(model["hidden_size"], 64);
  EXPECT_EQ(model["act"], "gelu");
  EXPECT_TRUE(model["dropout"].is_number_float());
  EXPECT_EQ(model["sub"]["deep"], nlohmann::json({1, 2}));
  EXPECT_EQ(c.get_int("seed"), 3);
  // A string key takes the text even when it reads as another TOML type.
  EXPECT_EQ(Config::load(make_schema(), "", {"run.name=007"}).get_string("run.name"), "007");
  EXPECT_EQ(Config::load(make_schema(), "", {"run.name=\"quoted name\""}).get_string("run.name"),
            "quoted name");
}

TEST(Config, UnknownKeyInFileSuggests) {
  TempDir dir;
  const std::string path = dir / "x.toml";
  write(path, "[train]\nlr = 0.1\nsetps = 3\n");
  EXPECT_EQ(error_of([&] { Config::load(make_schema(), path); }),
            "unknown key 'train.setps' in " + path + " (did you mean 'train.steps'?)");
  write(path, "[trian]\nlr = 0.1\n");  // misspelt section
  EXPECT_NE(error_of([&] { Config::load(make_schema(), path); })
                .find("unknown key 'trian.lr' in " + path + " (did you mean 'train.lr'?)"),
            std::string::npos);
  write(path, "[bogus]\n");  // an empty unknown table is still unknown
  EXPECT_NE(error_of([&] { Config::load(make_schema(), path); }).find("unknown key 'bogus'"),
            std::string::npos);
}

TEST(Config, UnknownKeyViaSet) {
  const std::string msg = error_of([] { Config::load(make_schema(), "", {"train.setps=1"}); });
  EXPECT_EQ(msg, "unknown key 'train.setps' in --set (did you mean 'train.steps'?)");
  const std::string no_eq = error_of([] { Config::load(make_schema(), "", {"train.steps"}); });
  EXPECT_NE(no_eq.find("key=value"), std::string::npos) << no_eq;
  const std::string far = error_of([] { Config::load(make_schema(), "", {"qqqqqqqqqq=1"}); });
  EXPECT_NE(far.find("valid keys: seed, train.lr"), std::string::npos) << far;
}

TEST(Config, TypeMismatchNamesKeyTypeAndValue) {
  TempDir dir;
  const std::string path = dir / "t.toml";
  write(path, "[train]\nsteps = 2.5\n");
  std::string msg = error_of([&] { Config::load(make_schema(), path); });
  EXPECT_NE(msg.find(path + ":2:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'train.steps'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("integer"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2.5"), std::string::npos) << msg;

  msg = error_of([] { Config::load(make_schema(), "", {"train.lr=fast"}); });
  EXPECT_NE(msg.find("'train.lr' expects a float, got \"fast\""), std::string::npos) << msg;
  msg = error_of([] { Config::load(make_schema(), "", {"data.layers=[1, \"a\"]"}); });
  EXPECT_NE(msg.find("list of integers"), std::string::npos) << msg;
  msg = error_of([] { Config::load(make_schema(), "", {"train.use_amp=1"}); });
  EXPECT_NE(msg.find("boolean"), std::string::npos) << msg;
  msg = error_of([] { Config::load(make_schema(), "", {"model=3"}); });
  EXPECT_NE(msg.find("expects a table"), std::string::npos) << msg;
}

TEST(Config, SyntaxErrorNamesFileAndLine) {
  TempDir dir;
  const std::string path = dir / "bad.toml";
  write(path, "seed = 1\n[train]\nlr = = 3\n");
  const std::string msg = error_of([&] { Config::load(make_schema(), path); });
  EXPECT_EQ(msg.rfind(path + ":3:", 0), 0u) << msg;  // starts with file:line:
  EXPECT_NE(msg.find("TOML syntax error"), std::string::npos) << msg;
}

TEST(Config, MissingFileNamed) {
  const std::string msg = error_of([] { Config::load(make_schema(), "/nonexistent/recipe.toml"); });
  EXPECT_NE(msg.find("/nonexistent/recipe.toml"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not found"), std::string::npos) << msg;
}

TEST(Config, FreeFormTableAsJson) {
  TempDir dir;
  write(dir / "m.toml", R"(
[model]
model_type = "vit"
hidden_size = 16
qkv_bias = true
eps = 1e-12
[model.id2label]
0 = "cat"
1 = "dog"

[[distill.loss]]
kind = "soft_ce"
layers = [0, 1]
weight = 1.0
[[distill.loss]]
kind = "mse"
weight = 0.5
)");
  const Config c = Config::load(make_schema(), dir / "m.toml");
  const nlohmann::json expected = {{"model_type", "vit"}, {"hidden_size", 16}, {"qkv_bias", true},
                                   {"eps", 1e-12}, {"id2label", {{"0", "cat"}, {"1", "dog"}}}};
  EXPECT_EQ(c.table_json("model"), expected);
  EXPECT_TRUE(c.has("model"));
  EXPECT_TRUE(c.has("model.hidden_size"));
  EXPECT_TRUE(c.has("model.id2label.1"));
  EXPECT_FALSE(c.has("model.missing"));
  EXPECT_FALSE(c.has("train.nothing"));
  const auto losses = c.table_json("distill.loss");
  ASSERT_EQ(losses.size(), 2u);
  EXPECT_EQ(losses[0]["kind"], "soft_ce");
  EXPECT_EQ(losses[0]["layers"], nlohmann::json({0, 1}));
  EXPECT_EQ(losses[1]["weight"], 0.5);
}

TEST(Config, TomlRoundTrip) {
  TempDir dir;
  write(dir / "m.toml", R"(
seed = -5
[train]
lr = 0.1
steps = 12
[run]
name = "tricky \"quotes\" \\ and\ttab and ünïcode"
[data]
weights = [0.1, 1e-20, 3.0]
classes = []
[model]
hidden_size = 16
eps = 1e-12
"key with space" = 1.5
nested = { a = [1, 2], b = "x" }
[[distill.loss]]
kind = "soft_ce"
[distill.loss.extra]
k = 1
[[distill.loss]]
kind = "mse"
)");
  Config c = Config::load(make_schema(), dir / "m.toml");
  c.set("train.steps", int64_t{13});  // a resolved value filled in by code
  c.set("train.lr", 1.0 / 3.0);        // needs all 17 digits to round trip
  const std::string text = c.to_toml();
  write_file_atomic(dir / "saved.toml", c.to_toml());
  const Config back = Config::load(make_schema(), dir / "saved.toml");
  EXPECT_TRUE(back == c) << text;
  EXPECT_EQ(back.to_json(), c.to_json()) << text;
  EXPECT_EQ(back.get_double("train.lr"), 1.0 / 3.0);
  EXPECT_EQ(back.get_string("run.name"), c.get_string("run.name"));
  EXPECT_EQ(back.table_json("distill.loss")[0]["extra"]["k"], 1);
  EXPECT_TRUE(back.table_json("model")["eps"].is_number_float());
  EXPECT_EQ(back.to_toml(), text);  // writing is deterministic
  // Every key is written, defaults included, with its help as a comment.
  EXPECT_NE(text.find("use_amp = false"), std::string::npos) << text;
  EXPECT_NE(text.find("# mixed precision"), std::string::npos) << text;
  EXPECT_NE(text.find("[train]"), std::string::npos) << text;

  // Defaults-only configs round trip too (empty table, empty table list).
  const Config defaults(make_schema());
  write(dir / "d.toml", defaults.to_toml());
  EXPECT_TRUE(Config::load(make_schema(), dir / "d.toml") == defaults) << defaults.to_toml();
  // A different value is detected.
  Config other = defaults;
  other.set("train.use_amp", true);
  EXPECT_FALSE(other == defaults);
}

TEST(Config, SettersAndProgrammingErrors) {
  Config c(make_schema());
  c.set("train.lr", 2);  // an int may set a float key
  EXPECT_EQ(c.get_double("train.lr"), 2.0);
  c.set("run.name", "abc");
  EXPECT_EQ(c.get_string("run.name"), "abc");
  c.set_table("model", {{"a", 1}});
  EXPECT_EQ(c.table_json("model")["a"], 1);
  // Undeclared keys and wrong types are programming errors: Error, not InputError.
  EXPECT_THROW(c.get_int("nope"), Error);
  EXPECT_THROW(c.get_int("train.lr"), Error);
  EXPECT_THROW(c.set("train.steps", 1.5), Error);
  try {
    c.get_int("nope");
  } catch (const InputError&) {
    ADD_FAILURE() << "programming error reported as input error";
  } catch (const Error&) {
  }
}

TEST(Config, HelpTextListsEveryKey) {
  const ConfigSchema s = make_schema();
  const std::string help = s.help_text();
  for (const auto& e : s.entries()) {
    EXPECT_NE(help.find(e.key), std::string::npos) << e.key;
    EXPECT_NE(help.find(e.help), std::string::npos) << e.help;
  }
  EXPECT_NE(help.find("= 0.001"), std::string::npos) << help;
  EXPECT_NE(help.find("= [0, 1]"), std::string::npos) << help;
}

TEST(ConfigSchema, DuplicateOrOverlappingKeysAreBugs) {
  ConfigSchema s;
  s.add("a.b", 1, "");
  EXPECT_THROW(s.add("a.b", 2, ""), Error);
  EXPECT_THROW(s.add("a.b.c", 2, ""), Error);
  EXPECT_THROW(s.add_table("a", ""), Error);
}

// ---- strings ---------------------------------------------------------------------------------

TEST(Strings, PrefixesSuffixesTrimAndCase) {
  EXPECT_TRUE(starts_with("transformer.h.0", "transformer."));
  EXPECT_TRUE(starts_with("abc", ""));
  EXPECT_FALSE(starts_with("ab", "abc"));
  EXPECT_TRUE(ends_with("model.safetensors", ".safetensors"));
  EXPECT_FALSE(ends_with("x.json", ".index.json"));
  EXPECT_EQ(trim(" \t a b \r\n\v\f"), "a b");
  EXPECT_EQ(trim("   "), "");
  EXPECT_EQ(to_lower("Content-Type: TEXT/Plain \xc3\x89"), "content-type: text/plain \xc3\x89");
}

TEST(Config, AssignmentReadsBackAsTheSameValue) {
  // Every resolved value of one config, carried into a fresh one key by key, gives an equal config.
  Config source(make_schema());
  source.apply_override("train.lr=2.5e-4");
  source.apply_override("train.use_amp=true");
  source.apply_override("run.name=I watch this 3D movie = 7");  // spaces, '=' and digits stay a string
  source.apply_override("data.layers=[3, 1]");
  source.apply_override("data.weights=[0.1, 10.0]");
  source.apply_override("data.classes=[\"x y\", \"z\"]");
  Config copy(make_schema());
  const auto json = source.to_json();
  for (const auto& entry : source.schema().entries()) {
    if (entry.type == ConfigType::Table || entry.type == ConfigType::TableList) continue;
    nlohmann::json value = json;
    for (const auto& part : split(entry.key, '.')) value = value[part];
    copy.apply_override(Config::assignment(entry.key, value));
  }
  EXPECT_EQ(copy.get_string("run.name"), "I watch this 3D movie = 7");
  EXPECT_EQ(copy.get_double("train.lr"), 2.5e-4);
  EXPECT_TRUE(copy.get_bool("train.use_amp"));
  EXPECT_EQ(copy.get_int_list("data.layers"), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(copy.get_double_list("data.weights"), (std::vector<double>{0.1, 10.0}));
  EXPECT_EQ(copy.get_string_list("data.classes"), (std::vector<std::string>{"x y", "z"}));
  EXPECT_EQ(copy, source);
}

TEST(Strings, PercentHasTwoDecimals) {
  EXPECT_EQ(percent(0.9134), "91.34%");
  EXPECT_EQ(percent(1.0), "100.00%");
  EXPECT_EQ(percent(0.0), "0.00%");
}

// The whole text or nothing: std::stoll("12abc") was 12, std::stod("0.5x") was 0.5 (issue 17).
TEST(Strings, NumbersAreParsedOnlyWhenTheyAreTheWholeText) {
  EXPECT_EQ(to_int64("42"), 42);
  EXPECT_EQ(to_int64("-3"), -3);
  EXPECT_EQ(to_int64("9223372036854775807"), INT64_MAX);
  for (const char* bad : {"12abc", "1x", "", " 3", "3 ", "+3", "1.0", "1e3", "0x10", "abc",
                          "9223372036854775808"}) {
    EXPECT_FALSE(to_int64(bad).has_value()) << "'" << bad << "'";
  }
  EXPECT_EQ(to_double("0.5"), 0.5);
  EXPECT_EQ(to_double("-1e-3"), -0.001);
  EXPECT_EQ(to_double("2"), 2.0);
  EXPECT_EQ(to_double(".25"), 0.25);
  for (const char* bad : {"0.5x", "1.5.2", "", " 1", "1 ", "+1", "inf", "nan", "0x1p3", "1e999",
                          "e3"}) {
    EXPECT_FALSE(to_double(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(Strings, SplitYieldsWhatAGetlineLoopYields) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split("q, k,v", ','), (V{"q", " k", "v"}));
  EXPECT_EQ(split("a,,b", ','), (V{"a", "", "b"}));
  EXPECT_EQ(split("a,", ','), (V{"a"}));  // a trailing separator adds nothing
  EXPECT_EQ(split(",a", ','), (V{"", "a"}));
  EXPECT_EQ(split(",", ','), (V{""}));
  EXPECT_EQ(split("", ','), V{});
  for (const std::string s : {"1,2,,3,", ",,", "x", ",x,"}) {
    std::stringstream in(s);
    V expected;
    std::string item;
    while (std::getline(in, item, ',')) expected.push_back(item);
    EXPECT_EQ(split(s, ','), expected) << s;
  }
}

}  // namespace
}  // namespace attnd
