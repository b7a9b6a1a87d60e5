// Detection data: box-preserving augmentation against hand computations and against the pixels it
// moves, the COCO dataset's batches, the Fashion-MNIST benchmark (deterministic, tight boxes,
// limited overlap) and its files written and read back.
#include <array>
#include <filesystem>
#include <map>

#include "attnd/core/box.h"
#include "attnd/data/detection_augment.h"
#include "attnd/data/detection_benchmark.h"
#include "attnd/data/detection_dataset.h"
#include "attnd/data/image_file.h"
#include "attnd/data/sampler.h"
#include "attnd/methods/detect.h"
#include "attnd/viz/image.h"
#include "test_utils.h"

namespace attnd {
namespace {

namespace fs = std::filesystem;

// A dark w × h image with a bright rectangle exactly on each box (integer corners).
DetectionSample painted(int64_t w, int64_t h, const std::vector<std::array<double, 4>>& boxes) {
  DetectionSample s;
  s.image = torch::zeros({1, h, w}, torch::kUInt8);
  s.boxes = torch::zeros({static_cast<int64_t>(boxes.size()), 4});
  s.labels = torch::arange(static_cast<int64_t>(boxes.size()), torch::kLong);
  for (size_t i = 0; i < boxes.size(); ++i) {
    const auto& b = boxes[i];
    s.image.narrow(1, int64_t(b[1]), int64_t(b[3] - b[1])).narrow(2, int64_t(b[0]), int64_t(b[2] - b[0])).fill_(200);
    s.boxes[i] = torch::tensor({b[0], b[1], b[2], b[3]}, torch::kFloat);
  }
  return s;
}

void expect_boxes(const torch::Tensor& got, const std::vector<std::array<double, 4>>& want) {
  ASSERT_EQ(got.size(0), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i)
    for (int c = 0; c < 4; ++c)
      EXPECT_NEAR(got[i][c].item<double>(), want[i][c], 1e-5) << "box " << i << " coord " << c;
}

TEST(DetectionAugment, FlipMirrorsBoxesAndPixels) {
  auto s = painted(10, 6, {{1, 2, 4, 5}});
  auto f = flip_horizontal(s);
  expect_boxes(f.boxes, {{6, 2, 9, 5}});  // x ↦ 10 − x
  EXPECT_EQ(f.image[0][3][6].item<int>(), 200);
  EXPECT_EQ(f.image[0][3][5].item<int>(), 0);
  EXPECT_EQ(f.image[0][3][8].item<int>(), 200);
  EXPECT_EQ(f.image[0][3][9].item<int>(), 0);
}

TEST(DetectionAugment, ResizeScalesEachAxis) {
  auto s = painted(10, 8, {{1, 2, 4, 6}});
  auto r = resize(s, 20, 4);
  EXPECT_EQ(r.width(), 20);
  EXPECT_EQ(r.height(), 4);
  expect_boxes(r.boxes, {{2, 1, 8, 3}});
}

TEST(DetectionAugment, CropShiftsClipsAndDrops) {
  auto s = painted(12, 10, {{1, 2, 4, 5}, {9, 8, 11, 10}, {5, 1, 7, 3}});
  // Window x in [2, 7), y in [1, 6): box 0 → (0, 1, 2, 4); box 1 outside → dropped;
  // box 2 (5..7, 1..3) → (3, 0, 5, 2).
  auto c = crop(s, 2, 1, 5, 5);
  expect_boxes(c.boxes, {{0, 1, 2, 4}, {3, 0, 5, 2}});
  EXPECT_EQ(c.labels[0].item<int64_t>(), 0);
  EXPECT_EQ(c.labels[1].item<int64_t>(), 2);
  // A sliver narrower than min_size is dropped: window x in [3, 7) leaves box 0 one pixel wide.
  auto thin = crop(s, 3, 0, 4, 10, 2.0);
  EXPECT_EQ(thin.labels.size(0), 1);  // only box 2
}

// Whatever the draw, the bright pixels still lie inside their (moved) box and fill it.
TEST(DetectionAugment, RandomPolicyKeepsBoxesOnTheirPixels) {
  DetectionAugmentation a;
  a.horizontal_flip = true;
  a.scale_min = 0.5;
  a.scale_max = 1.5;
  a.crop_probability = 0.7;
  auto s = painted(40, 30, {{4, 5, 16, 20}, {22, 3, 35, 12}});
  int cropped_away = 0;
  for (int64_t i = 0; i < 30; ++i) {
    auto out = augment_detection(s, a, 7, i, 48);
    auto again = augment_detection(s, a, 7, i, 48);
    ASSERT_TRUE(torch::equal(out.image, again.image)) << "same (seed, index), same pixels";
    EXPECT_LE(std::max(out.width(), out.height()), 48);
    if (out.boxes.size(0) < 2) ++cropped_away;
    for (int64_t j = 0; j < out.boxes.size(0); ++j) {
      auto b = out.boxes[j];
      const int64_t x0 = std::lround(b[0].item<double>()), y0 = std::lround(b[1].item<double>());
      const int64_t x1 = std::lround(b[2].item<double>()), y1 = std::lround(b[3].item<double>());
      if (x1 - x0 < 3 || y1 - y0 < 3) continue;
      // The interior (one pixel in from the edges, which bilinear resizing blends) is bright.
      auto inside = out.image[0].narrow(0, y0 + 1, y1 - y0 - 2).narrow(1, x0 + 1, x1 - x0 - 2);
      EXPECT_GT(inside.min().item<int>(), 100) << "example " << i << " box " << j;
    }
    // Every bright pixel belongs to some box (±1 px of resampling).
    auto bright = out.image[0].gt(150).nonzero();
    for (int64_t p = 0; p < bright.size(0); p += 7) {
      const double y = bright[p][0].item<double>() + 0.5, x = bright[p][1].item<double>() + 0.5;
      bool covered = false;
      for (int64_t j = 0; j < out.boxes.size(0); ++j) {
        auto b = out.boxes[j];
        covered = covered || (x >= b[0].item<double>() - 1 && x <= b[2].item<double>() + 1 &&
                              y >= b[1].item<double>() - 1 && y <= b[3].item<double>() + 1);
      }
      EXPECT_TRUE(covered) << "example " << i << ": bright pixel at " << x << "," << y;
    }
  }
  EXPECT_LT(cropped_away, 30);
}

CocoDataset two_image_coco() {
  CocoDataset d;
  d.categories = {{3, "b", ""}, {1, "a", ""}};
  d.images = {{10, "x.png", 20, 16}, {11, "y.png", 40, 20}};
  CocoAnnotation a;
  a.id = 1; a.image_id = 10; a.category_id = 3; a.bbox = {2, 3, 6, 4}; a.area = 24;
  CocoAnnotation b;
  b.id = 2; b.image_id = 11; b.category_id = 1; b.bbox = {10, 2, 20, 8}; b.area = 160;
  CocoAnnotation crowd = b;
  crowd.id = 3; crowd.iscrowd = true;
  d.annotations = {a, b, crowd};
  return d;
}

TEST(DetectionDataset, BatchesHoldNormalisedBoxesMasksAndScales) {
  DetectionDataOptions o;
  o.image_size = 32;
  o.mean = 0;
  o.std = 1;
  std::vector<torch::Tensor> images = {torch::full({1, 16, 20}, 255, torch::kUInt8),
                                       torch::full({1, 20, 40}, 255, torch::kUInt8)};
  DetectionDataset data(two_image_coco(), images, o);
  EXPECT_EQ(data.num_classes(), 2);
  EXPECT_EQ(data.category_ids(), (std::vector<int64_t>{1, 3}));
  auto batch = data.get({0, 1}, 0);
  ASSERT_EQ(batch.input.pixel_values.sizes(), (std::vector<int64_t>{2, 1, 32, 32}));
  // Image 0 fits: box (2, 3, 6, 4) → cxcywh (5, 5, 6, 4) / 32, class index of id 3 = 1.
  auto b0 = batch.targets[0].at("boxes");
  ASSERT_EQ(b0.size(0), 1);
  EXPECT_NEAR(b0[0][0].item<double>(), 5.0 / 32, 1e-6);
  EXPECT_NEAR(b0[0][1].item<double>(), 5.0 / 32, 1e-6);
  EXPECT_NEAR(b0[0][2].item<double>(), 6.0 / 32, 1e-6);
  EXPECT_NEAR(b0[0][3].item<double>(), 4.0 / 32, 1e-6);
  EXPECT_EQ(batch.targets[0].at("class_labels")[0].item<int64_t>(), 1);
  EXPECT_EQ(batch.targets[0].at("image_id")[0].item<int64_t>(), 10);
  EXPECT_EQ(batch.input.pixel_mask[0].sum().item<int64_t>(), 16 * 20);
  EXPECT_EQ(batch.input.foreground_mask[0].sum().item<double>(), 24);
  EXPECT_EQ(batch.input.pixel_values[0][0][15][19].item<float>(), 1.0f);
  EXPECT_EQ(batch.input.pixel_values[0][0][16][19].item<float>(), 0.0f);  // padding
  // Image 1 is 40 wide: scaled by 32/40 = 0.8 to 32×16; box xywh (10, 2, 20, 8), corners
  // (10, 2, 30, 10) → (8, 1.6, 24, 8): centre x 16, width 16;
  // the crowd annotation is not a training target.
  EXPECT_NEAR(batch.targets[1].at("scale")[0].item<double>(), 0.8, 1e-6);
  auto b1 = batch.targets[1].at("boxes");
  ASSERT_EQ(b1.size(0), 1);
  EXPECT_NEAR(b1[0][0].item<double>() * 32, 16, 1e-4);
  EXPECT_NEAR(b1[0][2].item<double>() * 32, 16, 1e-4);
  EXPECT_NEAR(b1[0][3].item<double>() * 32, 6.4, 1e-4);
  EXPECT_EQ(batch.input.pixel_mask[1].sum().item<int64_t>(), 32 * 16);
  // Foreground: integer pixels [⌊8⌋, ⌈24⌉) × [⌊1.6⌋, ⌈8⌉) = 16 × 7.
  EXPECT_EQ(batch.input.foreground_mask[1].sum().item<double>(), 16 * 7);
}

TEST(DetectionDataset, ImageFilesRoundTripAndSizesAreChecked) {
  test::TempDir dir;
  auto grey = torch::randint(0, 256, {1, 16, 20}, torch::kUInt8);
  write_png(dir / "images/x.png", image_from_tensor(grey));
  EXPECT_TRUE(torch::equal(read_image_file(dir / "images/x.png", 1), grey));
  auto wrong = torch::zeros({1, 5, 5}, torch::kUInt8);
  write_png(dir / "images/y.png", image_from_tensor(wrong));
  EXPECT_NE(test::error_of([&] { DetectionDataset(two_image_coco(), dir / "images", {}); })
                .find("y.png is 5x5 pixels but the instances JSON says 40x20"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { read_image_file(dir / "images/none.png", 1); }).find("no such image"),
            std::string::npos);
}

const char* kFashion = kFashionMnistDir;

TEST(DetectionBenchmark, DeterministicTightAndApart) {
  if (!fs::is_directory(kFashion)) GTEST_SKIP() << kFashion << " missing";
  auto items = load_fashion_mnist(kFashion, false);
  DetectionBenchmarkOptions o;
  o.images = 12;
  o.seed = 3;
  auto a = make_detection_benchmark(items, o), b = make_detection_benchmark(items, o);
  ASSERT_EQ(a.coco.images.size(), 12u);
  ASSERT_EQ(a.coco.annotations.size(), b.coco.annotations.size());
  for (size_t i = 0; i < a.images.size(); ++i) EXPECT_TRUE(torch::equal(a.images[i], b.images[i]));
  std::map<int64_t, std::vector<BoxXYWH>> per_image;
  for (const auto& ann : a.coco.annotations) {
    const auto& im = a.coco.images[static_cast<size_t>(ann.image_id - 1)];
    EXPECT_GE(im.width, 96);
    EXPECT_LE(im.width, 128);
    EXPECT_GE(ann.category_id, 1);
    EXPECT_LE(ann.category_id, 10);
    // Tight: the box's edge rows and columns hold an object pixel.
    auto canvas = a.images[static_cast<size_t>(ann.image_id - 1)][0];
    auto box = canvas.narrow(0, int64_t(ann.bbox.y), int64_t(ann.bbox.h)).narrow(1, int64_t(ann.bbox.x), int64_t(ann.bbox.w));
    EXPECT_TRUE(box[0].gt(kObjectThreshold).any().item<bool>());
    EXPECT_TRUE(box[-1].gt(kObjectThreshold).any().item<bool>());
    EXPECT_TRUE(box.select(1, 0).gt(kObjectThreshold).any().item<bool>());
    EXPECT_TRUE(box.select(1, box.size(1) - 1).gt(kObjectThreshold).any().item<bool>());
    for (const auto& other : per_image[ann.image_id]) EXPECT_LE(iou(ann.bbox, other), o.max_overlap + 1e-9);
    per_image[ann.image_id].push_back(ann.bbox);
  }
  for (const auto& im : a.coco.images) {
    EXPECT_GE(per_image[im.id].size(), 1u);
    EXPECT_LE(per_image[im.id].size(), 6u);
  }
  o.seed = 4;
  auto c = make_detection_benchmark(items, o);
  EXPECT_FALSE(torch::equal(a.images[0].flatten().narrow(0, 0, 64 * 64), c.images[0].flatten().narrow(0, 0, 64 * 64)));
  o.max_scale = 5;
  EXPECT_NE(test::error_of([&] { make_detection_benchmark(items, o); }).find("object scales"),
            std::string::npos);
}

TEST(DetectionBenchmark, MakeDataWritesCocoThatReadsBack) {
  if (!fs::is_directory(kFashion)) GTEST_SKIP() << kFashion << " missing";
  test::TempDir dir;
  MakeDataOptions o;
  o.out = dir.path();
  o.train_images = 6;
  o.val_images = 3;
  o.test_images = 4;
  write_detection_benchmark(o);
  auto train = load_detection_split(dir.path(), "train", {});
  auto test = load_detection_split(dir.path(), "test", {});
  EXPECT_EQ(train->size(), 6);
  EXPECT_EQ(test->size(), 4);
  EXPECT_EQ(train->num_classes(), 10);
  // The files hold the generator's exact pixels (grey PNG read back as 1 channel).
  auto items = load_fashion_mnist(kFashion, false);
  DetectionBenchmarkOptions b = o.benchmark;
  b.images = 4;
  b.seed = mix_seed(o.benchmark.seed, 3);
  auto again = make_detection_benchmark(items, b);
  for (int64_t i = 0; i < 4; ++i) EXPECT_TRUE(torch::equal(test->sample(i).image, again.images[i]));
  EXPECT_EQ(test->coco().annotations.size(), again.coco.annotations.size());
}

}  // namespace
}  // namespace attnd
