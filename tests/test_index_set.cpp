// core/index_set.h: layer and head selections, index pairs, and the message of every error path
// (each names the config key, the text and the allowed range).
#include <gtest/gtest.h>

#include "attnd/core/index_set.h"
#include "test_utils.h"

namespace {

using namespace attnd;
using attnd::test::error_of;
using V = std::vector<int64_t>;
using Pairs = std::vector<std::pair<int64_t, int64_t>>;

const IndexRange kLayers{4, "layer"};
const IndexRange kHeads{4, "head"};

TEST(IndexSet, OneIndex) {
  EXPECT_EQ(parse_index("0", kLayers, "k"), 0);
  EXPECT_EQ(parse_index("3", kLayers, "k"), 3);
  EXPECT_EQ(parse_index(" 2 ", kLayers, "k"), 2);  // spaces as in "0, 1, 2"
  EXPECT_EQ(error_of([] { parse_index("4", kLayers, "attnd.mixers"); }),
            "attnd.mixers: '4' is not a layer (out of range 0..3)");
  EXPECT_EQ(error_of([] { parse_index("x", kLayers, "attnd.mixers"); }),
            "attnd.mixers: 'x' is not a non-negative integer");
  EXPECT_EQ(error_of([] { parse_index("-1", kLayers, "k"); }), "k: '-1' is not a non-negative integer");
  EXPECT_EQ(error_of([] { parse_index("1x", kLayers, "k"); }), "k: '1x' is not a non-negative integer");
  EXPECT_EQ(error_of([] { parse_index("", kLayers, "k"); }), "k: '' is not a non-negative integer");
  EXPECT_EQ(error_of([] { parse_index("99999999999999999999", kLayers, "k"); }),
            "k: '99999999999999999999' is not a non-negative integer");
  EXPECT_EQ(error_of([] { parse_index("0", IndexRange{0, "layer"}, "k"); }),
            "k: '0' is not a layer (there are none)");
}

TEST(IndexSet, Sets) {
  EXPECT_EQ(parse_index_set("all", kLayers, "k"), (V{0, 1, 2, 3}));
  EXPECT_EQ(parse_index_set("none", kLayers, "k"), V{});
  EXPECT_EQ(parse_index_set("all_but_last:1", kLayers, "k"), (V{0, 1, 2}));
  EXPECT_EQ(parse_index_set("all_but_last:4", kLayers, "k"), V{});
  EXPECT_EQ(parse_index_set("first:2", kLayers, "k"), (V{0, 1}));
  EXPECT_EQ(parse_index_set("first:0", kLayers, "k"), V{});
  EXPECT_EQ(parse_index_set("last:2", kLayers, "k"), (V{2, 3}));
  EXPECT_EQ(parse_index_set("last:4", kLayers, "k"), (V{0, 1, 2, 3}));
  EXPECT_EQ(parse_index_set("3,1,1", kLayers, "k"), (V{1, 3}));
  EXPECT_EQ(parse_index_set("0, 2", kLayers, "k"), (V{0, 2}));
  EXPECT_EQ(parse_index_set("2,", kLayers, "k"), (V{2}));  // a trailing comma adds nothing
  EXPECT_EQ(parse_index_set("", kLayers, "k"), V{});
}

TEST(IndexSet, SetErrorsNameTheKeyAndTheRange) {
  EXPECT_EQ(error_of([] { parse_index_set("first:5", kLayers, "transfer.layers"); }),
            "transfer.layers = 'first:5': the model has only 4 layers");
  EXPECT_EQ(error_of([] { parse_index_set("last:9", kLayers, "linearize.layers"); }),
            "linearize.layers = 'last:9': the model has only 4 layers");
  EXPECT_EQ(error_of([] { parse_index_set("first:x", kLayers, "k"); }),
            "k = 'first:x': 'x' is not a non-negative integer");
  EXPECT_EQ(error_of([] { parse_index_set("middle:2", kLayers, "transfer.layers"); }),
            "transfer.layers = 'middle:2': expected all, none, all_but_last:k, first:k, last:k or "
            "a list like 0,1,2");
  EXPECT_EQ(error_of([] { parse_index_set("0,9", kLayers, "transfer.layers"); }),
            "transfer.layers = '0,9': '9' is not a layer (out of range 0..3)");
  EXPECT_EQ(error_of([] { parse_index_set("a", kLayers, "transfer.layers"); }),
            "transfer.layers: 'a' is not a non-negative integer");
  EXPECT_EQ(error_of([] { parse_index_set("0,,1", kLayers, "k"); }),
            "k = '0,,1': '' is not a non-negative integer");
  EXPECT_EQ(error_of([] { parse_index_set("all_but_last", kLayers, "k"); }),
            "k: 'all_but_last' is not a non-negative integer");
}

TEST(IndexSet, Subsets) {
  EXPECT_EQ(parse_index_subset("all", kHeads, "k"), V{});
  EXPECT_EQ(parse_index_subset("first:2", kHeads, "k"), (V{0, 1}));
  EXPECT_EQ(parse_index_subset("first:4", kHeads, "k"), V{});  // every head = all
  EXPECT_EQ(parse_index_subset("2,0", kHeads, "k"), (V{0, 2}));
  EXPECT_EQ(parse_index_subset("3,2,1,0", kHeads, "k"), V{});
  EXPECT_EQ(error_of([] { parse_index_subset("first:0", kHeads, "transfer.heads"); }),
            "transfer.heads = 'first:0': expected 1..4 heads");
  EXPECT_EQ(error_of([] { parse_index_subset("first:5", kHeads, "transfer.heads"); }),
            "transfer.heads = 'first:5': expected 1..4 heads");
  EXPECT_EQ(error_of([] { parse_index_subset("first:", kHeads, "transfer.heads"); }),
            "transfer.heads = 'first:': '' is not a non-negative integer");
  EXPECT_EQ(error_of([] { parse_index_subset("", kHeads, "transfer.heads"); }),
            "transfer.heads = '': no heads given (expected all, first:k or a list like 0,1)");
  EXPECT_EQ(error_of([] { parse_index_subset("1,4", kHeads, "transfer.heads"); }),
            "transfer.heads = '1,4': '4' is not a head (out of range 0..3)");
  EXPECT_EQ(error_of([] { parse_index_subset("last:1", kHeads, "transfer.heads"); }),
            "transfer.heads: 'last:1' is not a non-negative integer");
}

TEST(IndexSet, Pairs) {
  const IndexRange student{2, "student layer"}, teacher{4, "teacher layer"};
  EXPECT_EQ(parse_index_pairs("0:1,1:3", student, teacher, "k"), (Pairs{{0, 1}, {1, 3}}));
  EXPECT_EQ(parse_index_pairs("1:0, 1:0", student, teacher, "k"), (Pairs{{1, 0}, {1, 0}}));
  EXPECT_EQ(parse_index_pairs("", student, teacher, "k"), Pairs{});
  EXPECT_EQ(error_of([&] { parse_index_pairs("0-1", student, teacher, "distill.layer_map"); }),
            "distill.layer_map: '0-1' is not a pair a:b (a student layer, b teacher layer; e.g. "
            "\"0:0,1:2\")");
  EXPECT_EQ(error_of([&] { parse_index_pairs("0:0,1", student, teacher, "distill.layer_map"); }),
            "distill.layer_map = '0:0,1': '1' is not a pair a:b (a student layer, b teacher layer; "
            "e.g. \"0:0,1:2\")");
  EXPECT_EQ(error_of([&] { parse_index_pairs("x:1", student, teacher, "distill.layer_map"); }),
            "distill.layer_map = 'x:1': 'x' is not a non-negative integer");
  EXPECT_EQ(error_of([&] { parse_index_pairs("0:", student, teacher, "distill.layer_map"); }),
            "distill.layer_map = '0:': '' is not a non-negative integer");
  EXPECT_EQ(error_of([&] { parse_index_pairs("2:0", student, teacher, "distill.layer_map"); }),
            "distill.layer_map = '2:0': '2' is not a student layer (out of range 0..1)");
  EXPECT_EQ(error_of([&] { parse_index_pairs("0:4", student, teacher, "distill.layer_map"); }),
            "distill.layer_map = '0:4': '4' is not a teacher layer (out of range 0..3)");
}

}  // namespace
