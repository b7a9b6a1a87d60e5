// Detection foundations, in one test binary (each test binary links libtorch; one instead of
// several saves link time in CI). By suite:
//  - Boxes, MinCostAssignment (core/box.h, core/hungarian.h): hand-computed boxes, and the
//    assignment against brute force over every assignment of random matrices;
//  - CocoJson (io/coco_json.h): round trips, defaults of optional keys, and an InputError naming
//    the file and the JSON path for each kind of bad input;
//  - CocoEval (train/coco_eval.h): hand-made cases whose numbers are worked out in the comments,
//    and a deliberately naive recount of the protocol on random small cases;
//  - CocoEvalReference: the 12 numbers of pycocotools' own cocoeval.py on 40 random cases, stored
//    in tests/data/coco_eval_reference.json (made as tests/data/coco_reference/README.md says).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "attnd/core/box.h"
#include "attnd/core/error.h"
#include "attnd/core/hungarian.h"
#include "attnd/io/coco_json.h"
#include "attnd/io/json_file.h"
#include "attnd/train/coco_eval.h"

namespace attnd {
namespace {

// ==== Box geometry and minimum-cost assignment (core/box.h, core/hungarian.h) ===================

TEST(Boxes, ConversionsRoundTripAndAgree) {
  const BoxXYWH coco{10, 20, 30, 40};
  const BoxXYXY corners = to_xyxy(coco);
  EXPECT_DOUBLE_EQ(corners.x0, 10);
  EXPECT_DOUBLE_EQ(corners.y0, 20);
  EXPECT_DOUBLE_EQ(corners.x1, 40);
  EXPECT_DOUBLE_EQ(corners.y1, 60);
  const BoxXYWH back = to_xywh(corners);
  EXPECT_DOUBLE_EQ(back.w, 30);
  EXPECT_DOUBLE_EQ(back.h, 40);
  const BoxCXCYWH centre = to_cxcywh(corners);  // centre (25, 40), size 30×40
  EXPECT_DOUBLE_EQ(centre.cx, 25);
  EXPECT_DOUBLE_EQ(centre.cy, 40);
  const BoxXYXY again = to_xyxy(centre);
  EXPECT_DOUBLE_EQ(again.x0, 10);
  EXPECT_DOUBLE_EQ(again.y1, 60);
  EXPECT_DOUBLE_EQ(area(coco), 1200);
  EXPECT_DOUBLE_EQ(area(corners), 1200);
  EXPECT_DOUBLE_EQ(area(BoxXYXY{5, 5, 3, 9}), 0) << "x1 < x0 is an empty box";
}

TEST(Boxes, IouOfHandMadePairs) {
  // [0,10]² and [5,15]×[0,10]: overlap 5×10 = 50, union 100 + 100 − 50 = 150 → 1/3.
  EXPECT_DOUBLE_EQ(iou(BoxXYWH{0, 0, 10, 10}, BoxXYWH{5, 0, 10, 10}), 1.0 / 3);
  EXPECT_DOUBLE_EQ(iou(BoxXYXY{0, 0, 10, 10}, BoxXYXY{5, 0, 15, 10}), 1.0 / 3);
  EXPECT_DOUBLE_EQ(iou(BoxXYWH{0, 0, 10, 10}, BoxXYWH{0, 0, 10, 10}), 1.0);
  EXPECT_DOUBLE_EQ(iou(BoxXYWH{0, 0, 10, 10}, BoxXYWH{10, 0, 10, 10}), 0.0) << "touching";
  EXPECT_DOUBLE_EQ(iou(BoxXYWH{0, 0, 10, 10}, BoxXYWH{30, 30, 1, 1}), 0.0) << "apart";
  EXPECT_DOUBLE_EQ(iou(BoxXYWH{0, 0, 0, 0}, BoxXYWH{0, 0, 0, 0}), 0.0) << "empty boxes, no 0/0";
}

TEST(Boxes, CrowdIouDividesByTheDetectionArea) {
  // A 10×10 detection inside a 100×100 crowd region: plain IoU 100/10000, crowd IoU 100/100.
  const BoxXYWH det{20, 20, 10, 10}, crowd{0, 0, 100, 100};
  EXPECT_DOUBLE_EQ(iou(det, crowd), 0.01);
  EXPECT_DOUBLE_EQ(crowd_iou(det, crowd), 1.0);
  EXPECT_DOUBLE_EQ(coco_iou(det, crowd, true), 1.0);
  EXPECT_DOUBLE_EQ(coco_iou(det, crowd, false), 0.01);
  // Half outside: overlap 5×10 = 50 of the detection's 100.
  EXPECT_DOUBLE_EQ(crowd_iou(BoxXYWH{95, 0, 10, 10}, crowd), 0.5);
}

TEST(Boxes, GiouOfHandMadePairs) {
  // Overlapping: IoU 1/3 (above); hull [0,15]×[0,10] = 150 = union → GIoU = IoU.
  EXPECT_DOUBLE_EQ(giou(BoxXYXY{0, 0, 10, 10}, BoxXYXY{5, 0, 15, 10}), 1.0 / 3);
  // Disjoint [0,1]² and [2,3]×[0,1]: IoU 0, union 2, hull 3×1 = 3 → −(3 − 2)/3 = −1/3.
  EXPECT_DOUBLE_EQ(giou(BoxXYXY{0, 0, 1, 1}, BoxXYXY{2, 0, 3, 1}), -1.0 / 3);
  // Far apart along a diagonal: [0,1]² and [9,10]²: union 2, hull 100 → −98/100.
  EXPECT_DOUBLE_EQ(giou(BoxXYXY{0, 0, 1, 1}, BoxXYXY{9, 9, 10, 10}), -0.98);
  EXPECT_DOUBLE_EQ(giou(BoxXYXY{2, 2, 4, 4}, BoxXYXY{2, 2, 4, 4}), 1.0);
  EXPECT_DOUBLE_EQ(giou(BoxXYXY{1, 1, 1, 1}, BoxXYXY{1, 1, 1, 1}), 0.0) << "degenerate: hull 0";
}

// ---- minimum-cost assignment -------------------------------------------------------------------

// The least total cost over every assignment of min(rows, cols) pairs, by trying them all: each
// row in turn takes an unused column or (when rows > cols) stays unmatched while enough rows are
// left for the columns.
double brute_force_min_cost(const std::vector<double>& cost, int rows, int cols) {
  const int pairs = std::min(rows, cols);
  double best = std::numeric_limits<double>::infinity();
  std::vector<char> used(cols, 0);
  std::function<void(int, int, double)> visit = [&](int row, int matched, double total) {
    if (matched == pairs) {
      best = std::min(best, total);
      return;
    }
    if (row == rows) return;
    for (int c = 0; c < cols; ++c) {
      if (used[c]) continue;
      used[c] = 1;
      visit(row + 1, matched + 1, total + cost[row * cols + c]);
      used[c] = 0;
    }
    if (rows - row - 1 >= pairs - matched) visit(row + 1, matched, total);  // row left unmatched
  };
  visit(0, 0, 0.0);
  return best;
}

// min(rows, cols) pairs, sorted by row, no row or column twice, all in range.
void expect_valid_assignment(const std::vector<MatchedPair>& pairs, int rows, int cols) {
  ASSERT_EQ(static_cast<int>(pairs.size()), std::min(rows, cols));
  std::vector<char> row_used(rows, 0), col_used(cols, 0);
  for (size_t i = 0; i < pairs.size(); ++i) {
    ASSERT_GE(pairs[i].row, 0);
    ASSERT_LT(pairs[i].row, rows);
    ASSERT_GE(pairs[i].col, 0);
    ASSERT_LT(pairs[i].col, cols);
    EXPECT_FALSE(row_used[pairs[i].row]++) << "row " << pairs[i].row << " twice";
    EXPECT_FALSE(col_used[pairs[i].col]++) << "col " << pairs[i].col << " twice";
    if (i > 0) {
      EXPECT_LT(pairs[i - 1].row, pairs[i].row) << "sorted by row";
    }
  }
}

TEST(MinCostAssignment, MatchesBruteForceOnRandomSquareAndRectangularMatrices) {
  std::mt19937 rng(13);
  std::uniform_real_distribution<double> real(-5.0, 5.0);
  std::uniform_int_distribution<int> small_int(0, 3);  // many ties
  const std::vector<std::pair<int, int>> shapes = {{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5},
                                                   {6, 6}, {7, 7}, {3, 6}, {6, 3}, {2, 7},
                                                   {7, 2}, {1, 5}, {5, 1}, {4, 6}, {6, 4}};
  int checked = 0;
  for (const auto& [rows, cols] : shapes) {
    for (int trial = 0; trial < 40; ++trial) {
      const bool ties = trial % 2 == 1;
      std::vector<double> cost(rows * cols);
      for (auto& x : cost) x = ties ? small_int(rng) : real(rng);
      const auto pairs = min_cost_assignment(cost, rows, cols);
      expect_valid_assignment(pairs, rows, cols);
      EXPECT_NEAR(assignment_cost(cost.data(), cols, pairs), brute_force_min_cost(cost, rows, cols),
                  1e-9)
          << rows << "×" << cols << " trial " << trial;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 15 * 40);
}

// The least total cost when every column (a ground-truth box) must take a distinct row (a query),
// by dynamic programming over the set of columns already taken: best[S] after row r is the least
// cost of giving the columns in S to rows < r. Exact, and cheap for DETR's shapes (many queries,
// few boxes), where enumerating assignments is not.
double subset_dp_min_cost(const std::vector<double>& cost, int rows, int cols) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> best(size_t(1) << cols, inf);
  best[0] = 0;
  for (int r = 0; r < rows; ++r) {
    std::vector<double> next = best;  // row r left unmatched
    for (size_t set = 0; set < best.size(); ++set) {
      if (best[set] == inf) continue;
      for (int c = 0; c < cols; ++c)
        if (!(set >> c & 1))
          next[set | size_t(1) << c] =
              std::min(next[set | size_t(1) << c], best[set] + cost[r * cols + c]);
    }
    best = std::move(next);
  }
  return best.back();
}

TEST(MinCostAssignment, MatchesSubsetDynamicProgrammingOnDetrShapes) {
  // 100 queries against up to 10 boxes, costs on DETR's scale: −p(class) + 5·L1 + 2·(−GIoU).
  std::mt19937 rng(100);
  std::uniform_real_distribution<double> cost_of(-3.0, 12.0);
  for (int trial = 0; trial < 30; ++trial) {
    const int rows = trial % 3 == 0 ? 100 : 20 + trial, cols = 1 + trial % 10;
    std::vector<double> cost(rows * cols);
    for (auto& x : cost) x = cost_of(rng);
    const auto pairs = min_cost_assignment(cost, rows, cols);
    expect_valid_assignment(pairs, rows, cols);
    EXPECT_NEAR(assignment_cost(cost.data(), cols, pairs), subset_dp_min_cost(cost, rows, cols),
                1e-9)
        << rows << "×" << cols;
  }
}

TEST(MinCostAssignment, HandMadeMatrixPicksTheKnownOptimum) {
  // Greedy row by row would take (0,0)=1 then (1,1)=10: 11. The optimum crosses: 2 + 3 = 5.
  const std::vector<double> cost = {1, 2, 3, 10};
  const auto pairs = min_cost_assignment(cost, 2, 2);
  EXPECT_EQ(pairs, (std::vector<MatchedPair>{{0, 1}, {1, 0}}));
}

TEST(MinCostAssignment, AllEqualCostsStillGiveAValidAssignment) {
  const std::vector<double> cost(4 * 6, 7.0);
  const auto pairs = min_cost_assignment(cost, 4, 6);
  expect_valid_assignment(pairs, 4, 6);
  EXPECT_DOUBLE_EQ(assignment_cost(cost.data(), 6, pairs), 28.0);
  EXPECT_EQ(pairs, min_cost_assignment(cost, 4, 6)) << "deterministic";
}

TEST(MinCostAssignment, DegenerateShapes) {
  EXPECT_EQ(min_cost_assignment(std::vector<double>{3.5}, 1, 1),
            (std::vector<MatchedPair>{{0, 0}}));
  EXPECT_TRUE(min_cost_assignment(std::vector<double>{}, 0, 4).empty()) << "no queries";
  EXPECT_TRUE(min_cost_assignment(std::vector<double>{}, 4, 0).empty()) << "an image without boxes";
  EXPECT_TRUE(min_cost_assignment(std::vector<double>{}, 0, 0).empty());
  // One column, many rows: the row of least cost takes it.
  EXPECT_EQ(min_cost_assignment(std::vector<double>{4, -1, 2}, 3, 1),
            (std::vector<MatchedPair>{{1, 0}}));
}

TEST(MinCostAssignment, ForbiddenPairsAreAvoided) {
  const double inf = std::numeric_limits<double>::infinity();
  // Row 0 may only take column 1, so row 1 takes column 0 despite its cost 9: 1 + 9 = 10.
  const std::vector<double> cost = {inf, 1, 9, 0};
  EXPECT_EQ(min_cost_assignment(cost, 2, 2), (std::vector<MatchedPair>{{0, 1}, {1, 0}}));
  // Random matrices with some forbidden pairs: same total as brute force whenever it is finite.
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> real(0.0, 1.0);
  for (int trial = 0; trial < 100; ++trial) {
    const int rows = 2 + trial % 4, cols = 2 + (trial / 4) % 4;
    std::vector<double> c(rows * cols);
    for (auto& x : c) x = real(rng) < 0.3 ? inf : real(rng);
    const double best = brute_force_min_cost(c, rows, cols);
    if (std::isinf(best)) {
      EXPECT_THROW(min_cost_assignment(c, rows, cols), Error) << "infeasible";
    } else {
      const auto pairs = min_cost_assignment(c, rows, cols);
      expect_valid_assignment(pairs, rows, cols);
      EXPECT_NEAR(assignment_cost(c.data(), cols, pairs), best, 1e-9);
    }
  }
}

TEST(MinCostAssignment, NanAndMinusInfinityAreRefusedWithThePosition) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  try {
    min_cost_assignment(std::vector<double>{0, 1, 2, nan, 4, 5}, 2, 3);
    FAIL() << "NaN accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cost[1][0] is NaN"), std::string::npos) << e.what();
  }
  EXPECT_THROW(
      min_cost_assignment(std::vector<double>{-std::numeric_limits<double>::infinity()}, 1, 1),
      Error);
}

// ==== COCO instances and results JSON (io/coco_json.h) =========================================

using nlohmann::json;

// A fresh directory under /tmp, removed with everything in it when the object dies.
class ScratchDir {
 public:
  ScratchDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "attnd-coco-XXXXXX").string();
    if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

CocoDataset two_image_dataset() {
  CocoDataset d;
  d.images = {{1, "a.png", 96, 128}, {7, "sub/b.jpg", 100, 50}};
  d.categories = {{1, "shirt", "clothes"}, {3, "bag", ""}};
  // 0.1 + 0.2 is no short decimal: the round trip must keep every bit.
  d.annotations = {{10, 1, 1, {0.5, 1.25, 10, 20}, 200, false},
                   {11, 7, 3, {0.1 + 0.2, 4, 8, 2}, 5000, true}};
  return d;
}

json valid_instances() { return coco_instances_json(two_image_dataset()); }

TEST(CocoJson, InstancesRoundTripKeepsEveryField) {
  ScratchDir dir;
  const CocoDataset d = two_image_dataset();
  write_coco_instances(dir.file("instances.json"), d);
  const CocoDataset back = read_coco_instances(dir.file("instances.json"));
  ASSERT_EQ(back.images.size(), 2u);
  EXPECT_EQ(back.images[1].id, 7);
  EXPECT_EQ(back.images[1].file_name, "sub/b.jpg");
  EXPECT_EQ(back.images[1].width, 100);
  EXPECT_EQ(back.images[1].height, 50);
  ASSERT_EQ(back.categories.size(), 2u);
  EXPECT_EQ(back.categories[0].supercategory, "clothes");
  EXPECT_EQ(back.categories[1].name, "bag");
  ASSERT_EQ(back.annotations.size(), 2u);
  const auto& a = back.annotations[1];
  EXPECT_EQ(a.id, 11);
  EXPECT_EQ(a.image_id, 7);
  EXPECT_EQ(a.category_id, 3);
  EXPECT_EQ(a.bbox.x, 0.1 + 0.2) << "bit for bit";
  EXPECT_EQ(a.bbox.h, 2);
  EXPECT_EQ(a.area, 5000);
  EXPECT_TRUE(a.iscrowd);
  EXPECT_FALSE(back.annotations[0].iscrowd);
}

TEST(CocoJson, ResultsRoundTripKeepsEveryField) {
  ScratchDir dir;
  const std::vector<CocoDetection> dets = {{1, 3, {1, 2, 3, 4}, 0.875},
                                           {7, 1, {0.1, 0.2, 0.3, 0.4}, 1.0 / 3}};
  write_coco_results(dir.file("results.json"), dets);
  const auto back = read_coco_results(dir.file("results.json"));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].image_id, 7);
  EXPECT_EQ(back[1].category_id, 1);
  EXPECT_EQ(back[1].bbox.w, 0.3);
  EXPECT_EQ(back[1].score, 1.0 / 3);
  EXPECT_TRUE(parse_coco_results(json::array(), "r.json").empty()) << "a model that found nothing";
}

TEST(CocoJson, OptionalKeysTakeTheirDefaults) {
  json doc = valid_instances();
  doc["annotations"][0].erase("area");
  doc["annotations"][0].erase("iscrowd");
  doc["annotations"][1]["iscrowd"] = true;
  doc["annotations"][1]["segmentation"] = json::array({json::array({1, 2, 3, 4})});  // dropped
  doc["categories"][0].erase("supercategory");
  doc["info"] = {{"year", 2026}};
  doc["images"][0]["id"] = 1.0;  // numpy writers: an integral float is an id
  const CocoDataset d = parse_coco_instances(doc, "instances.json");
  EXPECT_DOUBLE_EQ(d.annotations[0].area, 200) << "bbox 10×20";
  EXPECT_FALSE(d.annotations[0].iscrowd);
  EXPECT_TRUE(d.annotations[1].iscrowd);
  EXPECT_EQ(d.categories[0].supercategory, "");
  EXPECT_EQ(d.images[0].id, 1);
}

// The message of the InputError that parsing `doc` throws ("" when none is thrown).
std::string instances_error(const json& doc) {
  try {
    parse_coco_instances(doc, "instances.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(CocoJson, BadInstancesNameTheFileAndTheJsonPath) {
  struct Case {
    std::function<void(json&)> spoil;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](json& d) { d = json::array(); },
       "instances.json: expected an object with \"images\", \"annotations\" and \"categories\", "
       "got []"},
      {[](json& d) { d.erase("categories"); }, "instances.json: missing key \"categories\""},
      {[](json& d) { d["images"] = 3; }, "instances.json: images: expected an array, got 3"},
      {[](json& d) { d["images"][1] = "x"; },
       "instances.json: images[1]: expected an object, got \"x\""},
      {[](json& d) { d["images"][1].erase("file_name"); },
       "instances.json: images[1]: missing key \"file_name\""},
      {[](json& d) { d["images"][0]["width"] = -96; },
       "instances.json: images[0].width: expected a positive integer, got -96"},
      {[](json& d) { d["images"][0]["height"] = "128"; },
       "instances.json: images[0].height: expected an integer, got \"128\""},
      {[](json& d) { d["images"][0]["id"] = 1.5; },
       "instances.json: images[0].id: expected an integer, got 1.5"},
      {[](json& d) { d["images"][1]["id"] = 1; },
       "instances.json: images[1].id: 1 is already the id of images[0]"},
      {[](json& d) { d["categories"][1]["id"] = 1; },
       "instances.json: categories[1].id: 1 is already the id of categories[0]"},
      {[](json& d) { d["categories"][0]["name"] = nullptr; },
       "instances.json: categories[0].name: expected a string, got null"},
      {[](json& d) { d["annotations"][1]["id"] = 10; },
       "instances.json: annotations[1].id: 10 is already the id of annotations[0]"},
      {[](json& d) {
         d["annotations"][1]["bbox"] = json::array({1, 2, 3});
       },
       "instances.json: annotations[1].bbox: expected 4 numbers, got 3"},
      {[](json& d) { d["annotations"][1]["bbox"] = "1 2 3 4"; },
       "instances.json: annotations[1].bbox: expected 4 numbers [x, y, width, height], got \"1 2 3 "
       "4\""},
      {[](json& d) { d["annotations"][0]["bbox"][2] = "10"; },
       "instances.json: annotations[0].bbox[2]: expected a number, got \"10\""},
      {[](json& d) { d["annotations"][0]["bbox"][3] = -1; },
       "instances.json: annotations[0].bbox: width and height must be ≥ 0, got 10 and -1"},
      {[](json& d) { d["annotations"][0]["area"] = -5; },
       "instances.json: annotations[0].area: expected a number ≥ 0, got -5"},
      {[](json& d) { d["annotations"][0]["iscrowd"] = 2; },
       "instances.json: annotations[0].iscrowd: expected 0, 1, true or false, got 2"},
      {[](json& d) { d["annotations"][1]["image_id"] = 99; },
       "instances.json: annotations[1].image_id: 99 is not the id of any image"},
      {[](json& d) { d["annotations"][0]["category_id"] = 2; },
       "instances.json: annotations[0].category_id: 2 is not the id of any category"},
      {[](json& d) { d["annotations"][0].erase("category_id"); },
       "instances.json: annotations[0]: missing key \"category_id\""},
  };
  EXPECT_EQ(instances_error(valid_instances()), "") << "the unspoilt document is valid";
  for (const auto& c : cases) {
    json doc = valid_instances();
    c.spoil(doc);
    EXPECT_EQ(instances_error(doc), c.message);
  }
}

TEST(CocoJson, BadResultsNameTheFileAndTheJsonPath) {
  auto error = [](const json& doc) -> std::string {
    try {
      parse_coco_results(doc, "results.json");
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  const json good = coco_results_json({{1, 3, {1, 2, 3, 4}, 0.5}, {7, 1, {1, 2, 3, 4}, 0.25}});
  EXPECT_EQ(error(good), "");
  EXPECT_EQ(error(json::object()),
            "results.json: expected an array of {image_id, category_id, bbox, score}, got {}");
  json d = good;
  d[1].erase("score");
  EXPECT_EQ(error(d), "results.json: [1]: missing key \"score\"");
  d = good;
  d[0]["bbox"] = json::array({1, 2, 3, 4, 5});
  EXPECT_EQ(error(d), "results.json: [0].bbox: expected 4 numbers, got 5");
  d = good;
  d[1]["score"] = "high";
  EXPECT_EQ(error(d), "results.json: [1].score: expected a number, got \"high\"");
  d = good;
  d[1]["image_id"] = json::array();
  EXPECT_EQ(error(d), "results.json: [1].image_id: expected an integer, got []");
}

TEST(CocoJson, ResultsMustFitTheDataset) {
  const CocoDataset d = two_image_dataset();
  check_results_fit({{1, 3, {0, 0, 1, 1}, 0.5}}, "results.json", d, "instances.json");  // fits
  try {
    check_results_fit({{1, 3, {0, 0, 1, 1}, 0.5}, {2, 3, {0, 0, 1, 1}, 0.5}}, "results.json", d,
                      "instances.json");
    FAIL() << "unknown image accepted";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "results.json: [1].image_id: 2 is not the id of any image of instances.json");
  }
  try {
    check_results_fit({{7, 2, {0, 0, 1, 1}, 0.5}}, "results.json", d, "instances.json");
    FAIL() << "unknown category accepted";
  } catch (const InputError& e) {
    EXPECT_STREQ(
        e.what(),
        "results.json: [0].category_id: 2 is not the id of any category of instances.json");
  }
}

TEST(CocoJson, FileErrorsNameThePath) {
  ScratchDir dir;
  const std::string path = dir.file("instances.json");
  {
    std::ofstream out(path);
    out << R"({"images": [{"id": 1, "file_name": "a.png", "width": 0, "height": 5}],
              "annotations": [], "categories": []})";
  }
  try {
    read_coco_instances(path);
    FAIL() << "width 0 accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              path + ": images[0].width: expected a positive integer, got 0");
  }
  EXPECT_THROW(read_coco_results(dir.file("missing.json")), InputError);
}

// ==== COCO box evaluation (train/coco_eval.h) ===================================================
//
// Reading the hand computations: with one category, AP at one IoU threshold is the mean over the
// 101 recall thresholds r = 0, 0.01, ..., 1 of the interpolated precision, the best precision among
// the ranked points whose recall is ≥ r (0 when no point reaches r). Precision carries COCO's
// +2.2e-16 in the denominator, hence EXPECT_NEAR.

constexpr double kTol = 1e-12;

// A data set being written by a test: images 1.. of 640×480, categories by id, gts with
// area = w·h unless given.
struct Builder {
  CocoDataset data;
  std::vector<CocoDetection> dets;
  int64_t next_ann = 1;

  explicit Builder(std::vector<int64_t> image_ids = {1}, std::vector<int64_t> category_ids = {1}) {
    for (int64_t id : image_ids) data.images.push_back({id, std::to_string(id) + ".png", 640, 480});
    for (int64_t id : category_ids) data.categories.push_back({id, "c" + std::to_string(id), ""});
  }
  Builder& gt(int64_t image, BoxXYWH box, int64_t category = 1, bool crowd = false,
              double area_field = -1) {
    data.annotations.push_back(
        {next_ann++, image, category, box, area_field >= 0 ? area_field : area(box), crowd});
    return *this;
  }
  Builder& det(int64_t image, BoxXYWH box, double score, int64_t category = 1) {
    dets.push_back({image, category, box, score});
    return *this;
  }
  Metrics metrics() const { return coco_metrics(evaluate_coco(data, dets)); }
};

TEST(CocoEval, ParamsAreNumpyLinspaceValues) {
  // Printed by numpy 1.24: np.linspace(.5, .95, 10) and np.linspace(0, 1, 101).
  const CocoEvalParams p = coco_eval_params();
  ASSERT_EQ(p.iou_thresholds.size(), 10u);
  ASSERT_EQ(p.recall_thresholds.size(), 101u);
  EXPECT_EQ(p.iou_thresholds[0], 0.5);
  EXPECT_EQ(p.iou_thresholds[5], 0.75);
  EXPECT_EQ(p.iou_thresholds[8], 0.8999999999999999);
  EXPECT_EQ(p.iou_thresholds[9], 0.95);
  EXPECT_EQ(p.recall_thresholds[35], 0.35000000000000003);
  EXPECT_EQ(p.recall_thresholds[70], 0.7000000000000001);
  EXPECT_EQ(p.recall_thresholds[80], 0.8);
  EXPECT_EQ(p.recall_thresholds[100], 1.0);
  EXPECT_EQ(p.max_dets, (std::vector<int64_t>{1, 10, 100}));
  EXPECT_EQ(p.area_ranges[1].max_area, 1024);
  EXPECT_EQ(p.area_ranges[2].min_area, 1024);
  EXPECT_EQ(p.area_ranges[3].min_area, 9216);
}

TEST(CocoEval, PerfectDetectionScoresOneAndAbsentSizesMinusOne) {
  // One 10×10 gt (area 100: small) found exactly: every threshold has the single point
  // (recall 1, precision 1) → AP = AR = 1. No medium or large gt → APm, APl, ARm, ARl = −1.
  const Metrics m = Builder().gt(1, {5, 5, 10, 10}).det(1, {5, 5, 10, 10}, 0.9).metrics();
  for (const char* key : {"AP", "AP50", "AP75", "APs", "AR1", "AR10", "AR100", "ARs"})
    EXPECT_NEAR(m.at(key), 1.0, kTol) << key;
  for (const char* key : {"APm", "APl", "ARm", "ARl"}) EXPECT_EQ(m.at(key), -1.0) << key;
}

TEST(CocoEval, FalsePositiveRankedAboveTheTruePositiveHalvesAp) {
  // Ranked: FP (0.9) → (recall 0, precision 0); TP (0.8) → (recall 1, precision 1/2).
  // Every r ≤ 1 is reached by the second point: precision 1/2 → AP 0.5, AR 1.
  const Metrics fp_first = Builder()
                               .gt(1, {0, 0, 10, 10})
                               .det(1, {50, 50, 10, 10}, 0.9)
                               .det(1, {0, 0, 10, 10}, 0.8)
                               .metrics();
  EXPECT_NEAR(fp_first.at("AP"), 0.5, kTol);
  EXPECT_NEAR(fp_first.at("AR100"), 1.0, kTol);
  // The same two the other way round: TP first → (1, 1), then (1, 1/2); interpolated 1 → AP 1.
  const Metrics tp_first = Builder()
                               .gt(1, {0, 0, 10, 10})
                               .det(1, {50, 50, 10, 10}, 0.8)
                               .det(1, {0, 0, 10, 10}, 0.9)
                               .metrics();
  EXPECT_NEAR(tp_first.at("AP"), 1.0, kTol);
}

TEST(CocoEval, EqualScoresInAnImageKeepTheirOrderInTheResults) {
  // Both at 0.7: the stable sort keeps the results' order. FP listed first → AP 0.5 (as above),
  // TP listed first → AP 1.
  EXPECT_NEAR(Builder()
                  .gt(1, {0, 0, 10, 10})
                  .det(1, {50, 50, 10, 10}, 0.7)
                  .det(1, {0, 0, 10, 10}, 0.7)
                  .metrics()
                  .at("AP"),
              0.5, kTol);
  EXPECT_NEAR(Builder()
                  .gt(1, {0, 0, 10, 10})
                  .det(1, {0, 0, 10, 10}, 0.7)
                  .det(1, {50, 50, 10, 10}, 0.7)
                  .metrics()
                  .at("AP"),
              1.0, kTol);
}

TEST(CocoEval, EqualScoresAcrossImagesRankInImageIdOrder) {
  // The TP is on one image, an FP of the same score on another. Images are concatenated in
  // ascending id order before the stable ranking, whatever the results' order:
  // TP's image id smaller → TP first → AP 1; larger → FP first → AP 0.5.
  EXPECT_NEAR(Builder({1, 2})
                  .gt(1, {0, 0, 10, 10})
                  .det(2, {0, 0, 10, 10}, 0.5)
                  .det(1, {0, 0, 10, 10}, 0.5)
                  .metrics()
                  .at("AP"),
              1.0, kTol);
  EXPECT_NEAR(Builder({1, 2})
                  .gt(2, {0, 0, 10, 10})
                  .det(2, {0, 0, 10, 10}, 0.5)
                  .det(1, {0, 0, 10, 10}, 0.5)
                  .metrics()
                  .at("AP"),
              0.5, kTol);
}

TEST(CocoEval, DetectionsOnAnImageWithoutGtAreFalsePositives) {
  // Image 2 has no gt; its detection (0.95) outranks image 1's TP (0.9): points (0, 0), (1, 1/2)
  // → AP 0.5. An image with neither gts nor detections (3) changes nothing.
  Builder b({1, 2, 3});
  b.gt(1, {0, 0, 10, 10}).det(1, {0, 0, 10, 10}, 0.9).det(2, {0, 0, 10, 10}, 0.95);
  EXPECT_NEAR(b.metrics().at("AP"), 0.5, kTol);
  EXPECT_NEAR(b.metrics().at("AR100"), 1.0, kTol);
}

TEST(CocoEval, CategoryWithoutGtIsLeftOutOfTheMeans) {
  // Category 2 has no gt anywhere: its precision and recall are −1 and not averaged, so its
  // detection (even ranked first) leaves AP = 1 (category 1 alone).
  Builder b({1}, {1, 2});
  b.gt(1, {0, 0, 10, 10}).det(1, {0, 0, 10, 10}, 0.8).det(1, {0, 0, 10, 10}, 0.99, 2);
  const auto result = evaluate_coco(b.data, b.dets);
  EXPECT_NEAR(coco_metrics(result).at("AP"), 1.0, kTol);
  const auto per_category = coco_category_ap(result);
  ASSERT_EQ(per_category.size(), 2u);
  EXPECT_NEAR(per_category[0].second, 1.0, kTol);
  EXPECT_EQ(per_category[1], (std::pair<int64_t, double>{2, -1.0}));
  EXPECT_EQ(result.recall_at(0, 1, 0, 2), -1.0);
  // A category that has a gt but no detection counts, with AP 0: mean (1 + 0) / 2 = 0.5.
  Builder c({1}, {1, 2});
  c.gt(1, {0, 0, 10, 10}).det(1, {0, 0, 10, 10}, 0.8).gt(1, {40, 40, 10, 10}, 2);
  EXPECT_NEAR(c.metrics().at("AP"), 0.5, kTol);
  EXPECT_NEAR(c.metrics().at("AR100"), 0.5, kTol);
}

TEST(CocoEval, CrowdGtAbsorbsAnyNumberOfDetectionsWithoutPenalty) {
  // A crowd region [100,200)² and a plain gt. Two detections inside the region (0.9, 0.8) have
  // crowd IoU 1 (intersection / their own area) though plain IoU 400/10000 and 100/10000: both
  // match the crowd — the second too, a crowd may be matched again — and are ignored. The TP
  // (0.7) is then the only counted point: (1, 1) → AP 1. The crowd is no gt to find: AR 1.
  Builder b;
  b.gt(1, {100, 100, 100, 100}, 1, /*crowd=*/true)
      .gt(1, {0, 0, 10, 10})
      .det(1, {120, 120, 20, 20}, 0.9)
      .det(1, {150, 150, 10, 10}, 0.8)
      .det(1, {0, 0, 10, 10}, 0.7);
  EXPECT_NEAR(b.metrics().at("AP"), 1.0, kTol);
  EXPECT_NEAR(b.metrics().at("AR100"), 1.0, kTol);
  // Without the crowd flag the region is a gt to find (2 counted) and the two detections, IoU 0.04
  // and 0.01 with it, are FPs ranked first: (0, 0), (0, 0), (1/2, 1/3); r = 0 .. 0.5 (51 of 101)
  // read 1/3 → AP = 51/101 · 1/3.
  Builder plain;
  plain.gt(1, {100, 100, 100, 100})
      .gt(1, {0, 0, 10, 10})
      .det(1, {120, 120, 20, 20}, 0.9)
      .det(1, {150, 150, 10, 10}, 0.8)
      .det(1, {0, 0, 10, 10}, 0.7);
  EXPECT_NEAR(plain.metrics().at("AP"), 51.0 / 101 / 3, kTol);
}

TEST(CocoEval, ANonCrowdGtIsPreferredToACrowdOneOfEqualIou) {
  // The detection equals the plain gt (IoU 1) and lies inside a crowd (crowd IoU 1 too). Plain gts
  // are tried first and an ignored one cannot replace a plain match: a TP, AP 1, AR 1. Had it gone
  // to the crowd it would be ignored and the plain gt missed: AP 0, AR 0.
  Builder b;
  b.gt(1, {0, 0, 50, 50}, 1, /*crowd=*/true).gt(1, {0, 0, 10, 10}).det(1, {0, 0, 10, 10}, 0.9);
  EXPECT_NEAR(b.metrics().at("AP"), 1.0, kTol);
  EXPECT_NEAR(b.metrics().at("AR1"), 1.0, kTol) << "matched to the plain gt, so recalled";
}

TEST(CocoEval, AreaRangesSplitGtsByTheirAreaFieldAndDetectionsByBoxArea) {
  // gts: S 10×10 (100, small), M 50×50 (2500, medium), L 100×100 (10000, large).
  // dets: FP of 120×120 (14400, large) at 0.95, S found at 0.9, M found at 0.8, L missed.
  Builder b;
  b.gt(1, {0, 0, 10, 10}).gt(1, {100, 0, 50, 50}).gt(1, {0, 200, 100, 100});
  b.det(1, {300, 300, 120, 120}, 0.95).det(1, {0, 0, 10, 10}, 0.9).det(1, {100, 0, 50, 50}, 0.8);
  const Metrics m = b.metrics();
  // all: 3 gts; points (0, 0), (1/3, 1/2), (2/3, 2/3); interpolated 2/3 for r ≤ 2/3, i.e. r = 0 ..
  // 0.66 (67 thresholds), 0 above → AP = 67/101 · 2/3 = 134/303 at every IoU; AR 2/3.
  EXPECT_NEAR(m.at("AP"), 134.0 / 303, kTol);
  EXPECT_NEAR(m.at("AR100"), 2.0 / 3, kTol);
  // small: only S counts. The FP (area 14400) is unmatched and outside → ignored; M's detection
  // matches the (ignored) M gt → ignored. One point (1, 1) → APs 1.
  EXPECT_NEAR(m.at("APs"), 1.0, kTol);
  EXPECT_NEAR(m.at("ARs"), 1.0, kTol);
  // medium: only M counts; FP outside → ignored, S's detection matched to the ignored S → ignored.
  EXPECT_NEAR(m.at("APm"), 1.0, kTol);
  // large: only L counts, never found; the FP is in range and unmatched → a FP; APl 0, ARl 0.
  EXPECT_NEAR(m.at("APl"), 0.0, kTol);
  EXPECT_NEAR(m.at("ARl"), 0.0, kTol);

  // The gt's class comes from its area field: a 10×10 box declared 5000 is medium, and the exact
  // detection (box area 100, small) matched to it is a TP of medium; in small the gt is ignored and
  // the detection matched to it too → no counted gt → −1.
  const Metrics declared =
      Builder().gt(1, {0, 0, 10, 10}, 1, false, 5000).det(1, {0, 0, 10, 10}, 0.9).metrics();
  EXPECT_NEAR(declared.at("APm"), 1.0, kTol);
  EXPECT_EQ(declared.at("APs"), -1.0);
  // Both bounds are inclusive: area exactly 32² is small and medium.
  const Metrics edge = Builder().gt(1, {0, 0, 32, 32}).det(1, {0, 0, 32, 32}, 0.9).metrics();
  EXPECT_NEAR(edge.at("APs"), 1.0, kTol);
  EXPECT_NEAR(edge.at("APm"), 1.0, kTol);
  EXPECT_EQ(edge.at("APl"), -1.0);
}

TEST(CocoEval, IouExactlyAtAThresholdMatches) {
  // gt 10×10, detection 10×5 inside: IoU 50 / (50 + 100 − 50) = 0.5 exactly → matched at 0.50
  // only: AP50 1, AP75 0, AP (mean over 10 thresholds) 1/10, AR 1/10.
  const Metrics half = Builder().gt(1, {0, 0, 10, 10}).det(1, {0, 0, 10, 5}, 0.9).metrics();
  EXPECT_NEAR(half.at("AP50"), 1.0, kTol);
  EXPECT_NEAR(half.at("AP75"), 0.0, kTol);
  EXPECT_NEAR(half.at("AP"), 0.1, kTol);
  EXPECT_NEAR(half.at("AR100"), 0.1, kTol);
  // 10×7.5: IoU 75 / 100 = 0.75 exactly → 0.50 .. 0.75 (6 thresholds): AP 0.6, AP75 1.
  const Metrics three_quarters =
      Builder().gt(1, {0, 0, 10, 10}).det(1, {0, 0, 10, 7.5}, 0.9).metrics();
  EXPECT_NEAR(three_quarters.at("AP75"), 1.0, kTol);
  EXPECT_NEAR(three_quarters.at("AP"), 0.6, kTol);
  // Just below 0.5 (10×4.99: 0.499): no threshold.
  EXPECT_NEAR(Builder().gt(1, {0, 0, 10, 10}).det(1, {0, 0, 10, 4.99}, 0.9).metrics().at("AP50"),
              0.0, kTol);
}

TEST(CocoEval, MaxDetsTruncatesPerImageAndCategory) {
  // Three gts found by three exact detections: AR@1 keeps the best one per image → 1/3; AR@10 1.
  Builder b;
  b.gt(1, {0, 0, 10, 10}).gt(1, {20, 0, 10, 10}).gt(1, {40, 0, 10, 10});
  b.det(1, {0, 0, 10, 10}, 0.9).det(1, {20, 0, 10, 10}, 0.8).det(1, {40, 0, 10, 10}, 0.7);
  EXPECT_NEAR(b.metrics().at("AR1"), 1.0 / 3, kTol);
  EXPECT_NEAR(b.metrics().at("AR10"), 1.0, kTol);
  EXPECT_NEAR(b.metrics().at("AP"), 1.0, kTol);
  // The limit is per category: one gt and one detection in each of two categories → AR@1 1.
  Builder two({1}, {1, 2});
  two.gt(1, {0, 0, 10, 10})
      .gt(1, {20, 0, 10, 10}, 2)
      .det(1, {0, 0, 10, 10}, 0.9)
      .det(1, {20, 0, 10, 10}, 0.8, 2);
  EXPECT_NEAR(two.metrics().at("AR1"), 1.0, kTol);
  // 100 FPs at 0.9 and the TP at 0.1: the 101st is cut → AP 0, AR100 0. At 0.95 it leads → AP 1.
  for (double tp_score : {0.1, 0.95}) {
    Builder many;
    many.gt(1, {0, 0, 10, 10});
    for (int i = 0; i < 100; ++i) many.det(1, {100.0 + i, 100, 10, 10}, 0.9);
    many.det(1, {0, 0, 10, 10}, tp_score);
    EXPECT_NEAR(many.metrics().at("AP"), tp_score > 0.5 ? 1.0 : 0.0, kTol) << tp_score;
    EXPECT_NEAR(many.metrics().at("AR100"), tp_score > 0.5 ? 1.0 : 0.0, kTol) << tp_score;
  }
}

TEST(CocoEval, RecallThresholdsCompareAsCocoComputesThem) {
  // 10 gts; 7 found (0.9 .. 0.84), then a FP (0.5), then an 8th found (0.4). Points: (k/10, 1) for
  // k = 1..7, (0.7, 7/8), (0.8, 8/9); interpolated: 1 up to recall 0.7, 8/9 up to 0.8.
  // recall_thresholds[70] is 0.7000000000000001 > 7/10, so r index 70 reads 8/9, not 1:
  // AP = (70·1 + 11·8/9) / 101 = 718/909 (an exact 0.70 would give 719/909). AR 0.8.
  Builder b;
  for (int j = 0; j < 10; ++j) b.gt(1, {20.0 * j, 0, 10, 10});
  for (int j = 0; j < 7; ++j) b.det(1, {20.0 * j, 0, 10, 10}, 0.9 - 0.01 * j);
  b.det(1, {500, 400, 10, 10}, 0.5).det(1, {140, 0, 10, 10}, 0.4);
  EXPECT_NEAR(b.metrics().at("AP"), 718.0 / 909, kTol);
  EXPECT_NEAR(b.metrics().at("AR100"), 0.8, kTol);
}

TEST(CocoEval, DetectionsMustNameKnownImagesAndCategories) {
  Builder b;
  b.gt(1, {0, 0, 10, 10}).det(5, {0, 0, 10, 10}, 0.9);
  EXPECT_THROW(evaluate_coco(b.data, b.dets), InputError);
  Builder c;
  c.gt(1, {0, 0, 10, 10}).det(1, {0, 0, 10, 10}, 0.9, 4);
  EXPECT_THROW(evaluate_coco(c.data, c.dets), InputError);
}

TEST(CocoEval, NonFiniteScoresAreRefused) {
  Builder b;
  b.gt(1, {0, 0, 10, 10}).det(1, {0, 0, 10, 10}, std::numeric_limits<double>::quiet_NaN());
  EXPECT_THROW(evaluate_coco(b.data, b.dets), InputError);
}

TEST(CocoEval, SummaryPrintsTwelveLinesAsCocoDoes) {
  const auto result =
      evaluate_coco(Builder().gt(1, {0, 0, 10, 10}).det(1, {0, 0, 10, 10}, 0.9).data,
                    Builder().det(1, {0, 0, 10, 10}, 0.9).dets);
  const std::string text = format_coco_summary(result);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 12);
  EXPECT_NE(
      text.find(" Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(" Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000"),
      std::string::npos)
      << text;
}

// ---- a naive recount on random cases ------------------------------------------------------------

// The protocol restated as directly as possible, sharing nothing with the evaluator but the box
// overlap and the threshold values: for each (category, area, maxDets, threshold) it redoes the
// matching per image with explicit candidate sets, and reads precision as "the best precision of
// any counted point with recall ≥ r".
struct NaiveResult {
  std::map<std::vector<size_t>, double> precision;  // key {t, r, k, a, m}
  std::map<std::vector<size_t>, double> recall;     // key {t, k, a, m}
};

NaiveResult naive_coco(const CocoDataset& gt, const std::vector<CocoDetection>& dets,
                       const CocoEvalParams& p) {
  std::vector<int64_t> images, cats;
  for (const auto& im : gt.images) images.push_back(im.id);
  for (const auto& c : gt.categories) cats.push_back(c.id);
  std::sort(images.begin(), images.end());
  std::sort(cats.begin(), cats.end());
  NaiveResult out;
  for (size_t k = 0; k < cats.size(); ++k)
    for (size_t a = 0; a < p.area_ranges.size(); ++a) {
      const auto& range = p.area_ranges[a];
      auto outside = [&](double x) { return x < range.min_area || x > range.max_area; };
      for (size_t m = 0; m < p.max_dets.size(); ++m)
        for (size_t t = 0; t < p.iou_thresholds.size(); ++t) {
          const double thr = p.iou_thresholds[t];
          struct Point {
            double score;
            bool tp;
          };
          std::vector<Point> points;  // counted detections of all images, in image order
          int64_t counted = 0;
          for (int64_t image : images) {
            std::vector<CocoAnnotation> g;
            for (const auto& x : gt.annotations)
              if (x.image_id == image && x.category_id == cats[k]) g.push_back(x);
            std::vector<CocoDetection> d;
            for (const auto& x : dets)
              if (x.image_id == image && x.category_id == cats[k]) d.push_back(x);
            std::stable_sort(d.begin(), d.end(),
                             [](auto& x, auto& y) { return x.score > y.score; });
            if (static_cast<int64_t>(d.size()) > p.max_dets[m]) d.resize(p.max_dets[m]);
            auto ignored_gt = [&](const CocoAnnotation& x) { return x.iscrowd || outside(x.area); };
            for (const auto& x : g) counted += ignored_gt(x) ? 0 : 1;
            std::vector<char> taken(g.size(), 0);
            for (const auto& det : d) {
              // Best among the counted gts first, else among the ignored ones; equal IoU: the
              // later.
              std::optional<size_t> pick;
              for (int pass = 0; pass < 2 && !pick; ++pass) {
                double best = -1;
                for (size_t j = 0; j < g.size(); ++j) {
                  if (ignored_gt(g[j]) != (pass == 1)) continue;
                  if (taken[j] && !g[j].iscrowd) continue;
                  const double o = coco_iou(det.bbox, g[j].bbox, g[j].iscrowd);
                  if (o >= thr && o >= best) best = o, pick = j;
                }
              }
              if (pick) {
                taken[*pick] = 1;
                if (!ignored_gt(g[*pick])) points.push_back({det.score, true});
              } else if (!outside(area(det.bbox))) {
                points.push_back({det.score, false});
              }
            }
          }
          if (counted == 0) continue;  // −1: absent from the map
          std::stable_sort(points.begin(), points.end(),
                           [](auto& x, auto& y) { return x.score > y.score; });
          std::vector<double> rc, pr;
          double tp = 0, fp = 0;
          for (const auto& pt : points) {
            (pt.tp ? tp : fp) += 1;
            rc.push_back(tp / static_cast<double>(counted));
            pr.push_back(tp / (tp + fp));
          }
          out.recall[{t, k, a, m}] = rc.empty() ? 0.0 : rc.back();
          for (size_t r = 0; r < p.recall_thresholds.size(); ++r) {
            double best = 0;
            for (size_t i = 0; i < rc.size(); ++i)
              if (rc[i] >= p.recall_thresholds[r]) best = std::max(best, pr[i]);
            out.precision[{t, r, k, a, m}] = best;
          }
        }
    }
  return out;
}

TEST(CocoEval, AgreesWithANaiveRecountOnRandomCases) {
  std::mt19937 rng(2026);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  CocoEvalParams p = coco_eval_params();
  p.max_dets = {1, 3, 5};  // small, so that truncation happens often
  // Sizes straddle the area bounds (32² = 1024, 96² = 9216) when scaled by 8.
  int compared = 0;
  for (int trial = 0; trial < 150; ++trial) {
    CocoDataset data;
    const int n_images = pick(1, 4), n_cats = pick(1, 3);
    for (int i = 0; i < n_images; ++i) data.images.push_back({10 + 3 * i, "x.png", 200, 200});
    for (int c = 0; c < n_cats; ++c) data.categories.push_back({c + 1, "c", ""});
    std::vector<CocoDetection> dets;
    int64_t ann = 1;
    auto random_box = [&]() {
      // An 8-pixel grid: equal IoUs and IoUs exactly on thresholds are common.
      return BoxXYWH{8.0 * pick(0, 6), 8.0 * pick(0, 6), 8.0 * pick(1, 14), 8.0 * pick(1, 14)};
    };
    for (const auto& im : data.images)
      for (int c = 1; c <= n_cats; ++c) {
        const int n_gt = pick(0, 4);
        std::vector<BoxXYWH> boxes;
        for (int j = 0; j < n_gt; ++j) {
          const BoxXYWH box = random_box();
          boxes.push_back(box);
          const double field = pick(0, 3) == 0 ? 8.0 * 8.0 * pick(1, 200) : area(box);
          data.annotations.push_back({ann++, im.id, c, box, field, pick(0, 6) == 0});
        }
        const int n_det = pick(0, 7);
        for (int j = 0; j < n_det; ++j) {
          // Half near a gt (jittered by a grid step), half anywhere; scores on a coarse grid: ties.
          BoxXYWH box = random_box();
          if (!boxes.empty() && pick(0, 1)) {
            box = boxes[pick(0, static_cast<int>(boxes.size()) - 1)];
            box.x += 8.0 * pick(-1, 1);
            box.w = std::max(8.0, box.w + 8.0 * pick(-1, 1));
          }
          dets.push_back({im.id, c, box, 0.1 * pick(1, 5)});
        }
      }
    std::shuffle(dets.begin(), dets.end(), rng);
    const CocoEvalResult got = evaluate_coco(data, dets, p);
    const NaiveResult want = naive_coco(data, dets, p);
    const size_t T = p.iou_thresholds.size(), R = p.recall_thresholds.size(),
                 K = got.category_ids.size(), A = p.area_ranges.size(), M = p.max_dets.size();
    for (size_t t = 0; t < T; ++t)
      for (size_t k = 0; k < K; ++k)
        for (size_t a = 0; a < A; ++a)
          for (size_t m = 0; m < M; ++m) {
            auto rit = want.recall.find({t, k, a, m});
            const double want_recall = rit == want.recall.end() ? -1.0 : rit->second;
            ASSERT_NEAR(got.recall_at(t, k, a, m), want_recall, 1e-9)
                << "trial " << trial << " t " << t << " k " << k << " a " << a << " m " << m;
            for (size_t r = 0; r < R; ++r) {
              auto pit = want.precision.find({t, r, k, a, m});
              const double want_precision = pit == want.precision.end() ? -1.0 : pit->second;
              ASSERT_NEAR(got.precision_at(t, r, k, a, m), want_precision, 1e-9)
                  << "trial " << trial << " t " << t << " r " << r << " k " << k << " a " << a
                  << " m " << m;
              ++compared;
            }
          }
  }
  EXPECT_GT(compared, 100000);
}

// ==== pycocotools as the oracle (tests/data/coco_eval_reference.json) ===========================

// Each case of the file holds the inputs (image and category ids; gts as [image_id, category_id,
// x, y, w, h, area, iscrowd]; detections as [image_id, category_id, x, y, w, h, score] in the order
// of a results file) and `stats`, the 12 numbers of COCOeval.summarize() that pycocotools' own
// cocoeval.py computed for them. Differences beyond rounding mean the evaluator no longer follows
// COCO's protocol.
TEST(CocoEvalReference, AgreesWithPycocotoolsOnEveryCase) {
  const nlohmann::json doc =
      read_json_file(ATTND_SOURCE_DIR "/tests/data/coco_eval_reference.json");
  const auto& cases = doc.at("cases");
  ASSERT_GE(cases.size(), 30u) << "the reference file lost its cases";
  // What makes the file worth having: traps of the protocol occur in it.
  int crowds = 0, area_unlike_box = 0, tied_scores = 0, cut_by_max_dets = 0;
  for (size_t n = 0; n < cases.size(); ++n) {
    const auto& c = cases[n];
    CocoDataset data;
    for (const auto& id : c.at("images"))
      data.images.push_back({id.get<int64_t>(), "x.png", 400, 400});
    for (const auto& id : c.at("categories"))
      data.categories.push_back({id.get<int64_t>(), "c", ""});
    int64_t ann = 1;
    for (const auto& g : c.at("gts")) {
      ASSERT_EQ(g.size(), 8u) << "case " << n;
      const BoxXYWH box{g[2].get<double>(), g[3].get<double>(), g[4].get<double>(),
                        g[5].get<double>()};
      data.annotations.push_back({ann++, g[0].get<int64_t>(), g[1].get<int64_t>(), box,
                                  g[6].get<double>(), g[7].get<int>() != 0});
      crowds += data.annotations.back().iscrowd ? 1 : 0;
      area_unlike_box += data.annotations.back().area != area(box) ? 1 : 0;
    }
    std::vector<CocoDetection> dets;
    std::set<double> scores;
    std::map<std::pair<int64_t, int64_t>, int> per_cell;
    for (const auto& d : c.at("dts")) {
      ASSERT_EQ(d.size(), 7u) << "case " << n;
      dets.push_back(
          {d[0].get<int64_t>(),
           d[1].get<int64_t>(),
           {d[2].get<double>(), d[3].get<double>(), d[4].get<double>(), d[5].get<double>()},
           d[6].get<double>()});
      tied_scores += scores.insert(dets.back().score).second ? 0 : 1;
      ++per_cell[{dets.back().image_id, dets.back().category_id}];
    }
    for (const auto& [cell, count] : per_cell) cut_by_max_dets += count > 100 ? 1 : 0;

    const auto want = c.at("stats").get<std::vector<double>>();
    const auto got = coco_summary(evaluate_coco(data, dets));
    ASSERT_EQ(want.size(), 12u) << "case " << n;
    ASSERT_EQ(got.size(), 12u);
    for (size_t i = 0; i < 12; ++i)
      EXPECT_NEAR(got[i].second, want[i], 1e-12) << "case " << n << ", " << got[i].first;
  }
  EXPECT_GT(crowds, 0);
  EXPECT_GT(area_unlike_box, 0);
  EXPECT_GT(tied_scores, 0);
  EXPECT_GT(cut_by_max_dets, 0);
}

}  // namespace
}  // namespace attnd
