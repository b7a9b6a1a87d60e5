// The detector: sine encoding against a hand loop, GIoU on tensors against core/box.h, matching
// against brute force, the set loss against a hand computation, KS triple attention against
// explicit per-head matmuls, and the KS model's inference form against the plain baseline
// (same parameter names and shapes, same outputs, no teacher compute).
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <set>

#include "attnd/core/box.h"
#include "attnd/data/sampler.h"
#include "attnd/methods/detect_attention.h"
#include "attnd/models/detr.h"
#include "attnd/models/registry.h"
#include "attnd/train/detection_loss.h"
#include "attnd/train/detection_task.h"
#include "attnd/train/optimizer.h"
#include "attnd/train/trainer.h"
#include "test_utils.h"

namespace attnd {
namespace {

nlohmann::json tiny_detr(bool ks = false) {
  return {{"model_type", "detr"}, {"num_channels", 1}, {"backbone_width", 8},
          {"backbone_stages", 2}, {"d_model", 16}, {"encoder_layers", 2}, {"decoder_layers", 2},
          {"encoder_attention_heads", 2}, {"decoder_attention_heads", 2}, {"encoder_ffn_dim", 32},
          {"decoder_ffn_dim", 32}, {"num_queries", 5}, {"num_labels", 3},
          {"ks_triple_attention", ks}};
}

TEST(DetrSine, MatchesAHandLoop) {
  // Two images, 3 × 4 maps; the second has its last column and last row padded.
  auto mask = torch::ones({2, 3, 4}, torch::kBool);
  mask[1].select(1, 3).fill_(false);
  mask[1][2].fill_(false);
  const int64_t d = 8, half = 4;
  auto pos = sine_position_encoding(mask, d);
  ASSERT_EQ(pos.sizes(), (std::vector<int64_t>{2, 12, 8}));
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t c = 0; c < 4; ++c) {
        // Cumulative counts of real cells down the column / along the row, over the totals.
        double y = 0, ytot = 0, x = 0, xtot = 0;
        for (int64_t k = 0; k < 3; ++k) {
          const double m = mask[b][k][c].item<bool>();
          ytot += m;
          if (k <= r) y += m;
        }
        for (int64_t k = 0; k < 4; ++k) {
          const double m = mask[b][r][k].item<bool>();
          xtot += m;
          if (k <= c) x += m;
        }
        y = y / (ytot + 1e-6) * 2 * M_PI;
        x = x / (xtot + 1e-6) * 2 * M_PI;
        for (int64_t i = 0; i < half; ++i) {
          const double t = std::pow(10000.0, 2.0 * (i / 2) / half);
          const double ey = i % 2 == 0 ? std::sin(y / t) : std::cos(y / t);
          const double ex = i % 2 == 0 ? std::sin(x / t) : std::cos(x / t);
          EXPECT_NEAR(pos[b][r * 4 + c][i].item<double>(), ey, 1e-5);
          EXPECT_NEAR(pos[b][r * 4 + c][half + i].item<double>(), ex, 1e-5);
        }
      }
}

TEST(DetrSine, BoxEncodingMatchesAHandLoop) {
  // Blocks (cy, cx, h, w), each coordinate × 2π encoded like a normalised feature-map position.
  auto boxes = torch::tensor({0.3, 0.7, 0.2, 0.5, 0.9, 0.1, 0.05, 0.4}, torch::kFloat).view({2, 4});
  const int64_t d = 8, half = 4;
  auto e = sine_box_encoding(boxes, d);
  ASSERT_EQ(e.sizes(), (std::vector<int64_t>{2, 16}));
  const int order[4] = {1, 0, 3, 2};
  for (int64_t q = 0; q < 2; ++q)
    for (int block = 0; block < 4; ++block)
      for (int64_t i = 0; i < half; ++i) {
        const double v = boxes[q][order[block]].item<double>() * 2 * M_PI;
        const double t = std::pow(10000.0, 2.0 * (i / 2) / half);
        EXPECT_NEAR(e[q][block * half + i].item<double>(), i % 2 == 0 ? std::sin(v / t) : std::cos(v / t),
                    1e-5);
      }
}

torch::Tensor random_cxcywh(int64_t n) {
  auto c = torch::rand({n, 2}) * 0.8 + 0.1, s = torch::rand({n, 2}) * 0.4 + 0.02;
  return torch::cat({c, s}, 1);
}

TEST(DetectionLoss, PairwiseGiouEqualsTheScalarOne) {
  torch::manual_seed(1);
  auto a = cxcywh_to_xyxy(random_cxcywh(6)).to(torch::kDouble);
  auto b = cxcywh_to_xyxy(random_cxcywh(4)).to(torch::kDouble);
  b[3] = a[2];  // an identical pair: GIoU 1
  auto g = pairwise_giou(a, b);
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      BoxXYXY p{a[i][0].item<double>(), a[i][1].item<double>(), a[i][2].item<double>(), a[i][3].item<double>()};
      BoxXYXY q{b[j][0].item<double>(), b[j][1].item<double>(), b[j][2].item<double>(), b[j][3].item<double>()};
      EXPECT_NEAR(g[i][j].item<double>(), giou(p, q), 1e-9) << i << "," << j;
    }
  EXPECT_NEAR(g[2][3].item<double>(), 1.0, 1e-12);
}

TEST(DetectionLoss, MatchingIsTheBruteForceOptimum) {
  torch::manual_seed(2);
  for (bool focal : {false, true}) {
    DetectionLossOptions o;
    o.focal = focal;
    for (int trial = 0; trial < 5; ++trial) {
      const int64_t q = 5, n = 3;
      auto logits = torch::randn({1, q, 4});
      auto boxes = torch::sigmoid(torch::randn({1, q, 4}));
      TensorMap t{{"boxes", random_cxcywh(n)}, {"class_labels", torch::randint(0, 3, {n}, torch::kLong)}};
      auto pairs = match_queries(logits, boxes, {t}, o)[0];
      ASSERT_EQ(pairs.size(), 3u);
      auto cost = matching_cost(logits[0], boxes[0], t, o);
      double got = 0;
      for (const auto& p : pairs) got += cost[p.row][p.col].item<double>();
      // Every injective map of the 3 targets to 5 queries.
      double best = 1e300;
      for (int a = 0; a < q; ++a)
        for (int b = 0; b < q; ++b)
          for (int c = 0; c < q; ++c) {
            if (a == b || b == c || a == c) continue;
            best = std::min(best, cost[a][0].item<double>() + cost[b][1].item<double>() +
                                      cost[c][2].item<double>());
          }
      EXPECT_NEAR(got, best, 1e-5);
    }
  }
}

TEST(DetectionLoss, SetLossEqualsAHandComputation) {
  // One image, two queries, one target of class 1; the match must be query 1 (right box).
  auto logits = torch::tensor({{{0.2, 0.1, -0.3}, {0.0, 2.0, 0.5}}});  // 2 classes + no object
  auto boxes = torch::tensor({{{0.2, 0.2, 0.1, 0.1}, {0.5, 0.5, 0.4, 0.3}}});
  TensorMap t{{"boxes", torch::tensor({{0.55, 0.5, 0.3, 0.3}})}, {"class_labels", torch::tensor({int64_t{1}})}};
  DetectionLossOptions o;
  auto l = detection_group_loss(logits, boxes, {t}, o);
  // CE: query 1 → class 1 (weight 1), query 0 → no object (weight 0.1); weighted mean.
  auto lse = [](std::vector<double> v) {
    double s = 0;
    for (double x : v) s += std::exp(x);
    return std::log(s);
  };
  const double ce0 = lse({0.2, 0.1, -0.3}) - (-0.3), ce1 = lse({0.0, 2.0, 0.5}) - 2.0;
  const double ce = (0.1 * ce0 + 1.0 * ce1) / 1.1;
  const double l1 = 0.05 + 0 + 0.1 + 0;
  const double g = giou(to_xyxy(BoxCXCYWH{0.5, 0.5, 0.4, 0.3}), to_xyxy(BoxCXCYWH{0.55, 0.5, 0.3, 0.3}));
  EXPECT_NEAR(l.parts.at("class"), ce, 1e-6);
  EXPECT_NEAR(l.parts.at("bbox"), l1, 1e-6);
  EXPECT_NEAR(l.parts.at("giou"), 1 - g, 1e-6);
  EXPECT_NEAR(l.total.item<double>(), ce + 5 * l1 + 2 * (1 - g), 1e-5);
  // No targets: only "no object" cross-entropy, no box terms.
  TensorMap empty{{"boxes", torch::zeros({0, 4})}, {"class_labels", torch::zeros({0}, torch::kLong)}};
  auto none = detection_group_loss(logits, boxes, {empty}, o);
  EXPECT_NEAR(none.parts.at("bbox"), 0, 1e-12);
  EXPECT_NEAR(none.parts.at("class"), (0.1 * ce0 + 0.1 * (lse({0.0, 2.0, 0.5}) - 0.5)) / 0.2, 1e-6);
}

TEST(KsTripleAttention, BranchesEqualExplicitMatmuls) {
  torch::manual_seed(3);
  DetrLayerOptions lo{8, 2, 16};
  DetrEncoderLayer layer(lo);
  KsTeacher teacher(8);
  auto x = torch::randn({2, 5, 8}), pos = torch::randn({2, 5, 8});
  auto fg = torch::tensor({{1, 0, 1, 0, 0}, {0, 0, 0, 1, 1}}).to(torch::kFloat);
  AttentionMask mask;
  mask.key_padding = torch::tensor({{1, 1, 1, 1, 0}, {1, 1, 1, 1, 1}}).to(torch::kBool);
  auto z = triple_attention(*layer->self_attn, *teacher, x, pos, fg, mask);
  auto& qkv = *layer->named_modules()["self_attn.attention"]->as<QkvProjectionsImpl>();
  for (int64_t b = 0; b < 2; ++b) {
    // Xᵗ row by row: foreground rows through ReLU(W_s x + b_s), others unchanged.
    auto xt = x[b].clone();
    for (int64_t i = 0; i < 5; ++i)
      if (fg[b][i].item<float>() > 0) xt[i] = torch::relu(teacher->foreground_mlp(x[b][i]));
    auto q = qkv.query(x[b] + pos[b]), k = qkv.key(x[b] + pos[b]), v = qkv.value(x[b]);
    auto qt = teacher->query(xt + pos[b]), kt = teacher->key(xt + pos[b]), vt = teacher->value(xt);
    for (int64_t h = 0; h < 2; ++h) {
      auto head = [&](const torch::Tensor& t) { return t.narrow(1, h * 4, 4); };
      auto weights = [&](const torch::Tensor& qq, const torch::Tensor& kk) {
        auto logits = torch::matmul(head(qq), head(kk).t()) / 2.0;  // √4
        if (b == 0) logits.select(1, 4).fill_(-1e9);                 // padded key
        return logits.softmax(-1);
      };
      auto a = weights(q, k), at = weights(qt, kt);
      EXPECT_TRUE(torch::allclose(z.student[b][h], torch::matmul(a, head(v)), 1e-5, 1e-6));
      EXPECT_TRUE(torch::allclose(z.teacher_weights[b][h], torch::matmul(at, head(v)), 1e-5, 1e-6));
      EXPECT_TRUE(torch::allclose(z.teacher_values[b][h], torch::matmul(a, head(vt)), 1e-5, 1e-6));
    }
  }
  // The student branch is exactly what the plain layer computes.
  AttentionInputs in;
  in.query = x;
  in.query_pos = pos;
  in.key_pos = pos;
  auto plain = layer->self_attn->forward(in, mask, nullptr, 0);
  EXPECT_TRUE(torch::allclose(layer->self_attn->project_output(z.student), plain, 1e-5, 1e-6));
}

Batch tiny_batch() {
  Batch b;
  b.input.pixel_values = torch::randn({2, 1, 32, 32});
  b.input.pixel_mask = torch::ones({2, 32, 32}, torch::kBool);
  b.input.pixel_mask[1].narrow(1, 24, 8).fill_(false);
  b.input.foreground_mask = torch::zeros({2, 32, 32});
  b.input.foreground_mask[0].narrow(0, 4, 12).narrow(1, 8, 12).fill_(1);
  b.input.foreground_mask[1].narrow(0, 16, 10).narrow(1, 2, 10).fill_(1);
  b.targets = {{{"boxes", torch::tensor({{0.4375, 0.3125, 0.375, 0.375}})},
                {"class_labels", torch::tensor({int64_t{2}})}},
               {{"boxes", torch::tensor({{0.21875, 0.65625, 0.3125, 0.3125}})},
                {"class_labels", torch::tensor({int64_t{0}})}}};
  return b;
}

TEST(DetrModel, OutputsAndTheForegroundTokens) {
  torch::manual_seed(4);
  auto model = create_model(tiny_detr(true));
  EXPECT_EQ(model->task_kind(), TaskKind::kDetection);
  auto batch = tiny_batch();
  model->train();
  auto out = model->forward(batch.input);
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2, 5, 4}));
  EXPECT_EQ(out.at("pred_boxes").sizes(), (std::vector<int64_t>{2, 5, 4}));
  for (const char* name : {"aux.0.logits", "teacher1.logits", "teacher2.pred_boxes"})
    EXPECT_TRUE(out.has(name)) << name;
  EXPECT_FALSE(out.has("aux.1.logits"));
  // The loss reaches every teacher-only parameter.
  auto loss = detection_loss(out, batch.targets, DetectionLossOptions{});
  EXPECT_TRUE(loss.parts.count("teacher1") && loss.parts.count("teacher2") && loss.parts.count("aux.0"));
  loss.total.backward();
  for (const auto& [name, p] : model->state())
    if (name.find(".ks.") != std::string::npos) {
      ASSERT_TRUE(p.grad().defined()) << name;
      EXPECT_GT(p.grad().abs().sum().item<double>(), 0) << name;
    }
  // Foreground tokens (8 × 8 map of a 32 px input, stride 4): bilinear with align_corners.
  auto& detr = dynamic_cast<DetrModelImpl&>(*model);
  auto e = detr.embed(batch.input);
  auto tokens = DetrModelImpl::foreground_tokens(batch.input.foreground_mask, e);
  auto expect = torch::nn::functional::interpolate(
                    batch.input.foreground_mask.unsqueeze(1),
                    torch::nn::functional::InterpolateFuncOptions()
                        .size(std::vector<int64_t>{8, 8})
                        .mode(torch::kBilinear)
                        .align_corners(true))
                    .flatten(1)
                    .gt(0);
  expect[1].view({8, 8}).narrow(1, 6, 2).fill_(false);  // padded columns are never foreground
  EXPECT_TRUE(torch::equal(tokens.to(torch::kBool), expect));
}

TEST(DetrModel, KsInferenceModelIsTheBaseline) {
  torch::manual_seed(5);
  auto ks = create_model(tiny_detr(true));
  auto baseline = create_model(tiny_detr(false));
  auto plain = ks->inference_model();
  ASSERT_TRUE(plain);
  EXPECT_EQ(baseline->inference_model(), nullptr);
  std::map<std::string, std::vector<int64_t>> want, got;
  for (const auto& [n, t] : baseline->state()) want[n] = t.sizes().vec();
  for (const auto& [n, t] : plain->state()) got[n] = t.sizes().vec();
  EXPECT_EQ(got, want);
  EXPECT_EQ(plain->config_json(), baseline->config_json());
  EXPECT_GT(ks->state().size(), baseline->state().size());
  // In evaluation the KS model runs only the student: no teacher outputs, the same numbers as its
  // inference model, with or without annotations.
  auto batch = tiny_batch();
  ks->eval();
  plain->eval();
  torch::NoGradGuard no_grad;
  auto a = ks->forward(batch.input);
  auto without = batch.input;
  without.foreground_mask = torch::Tensor();
  auto b = plain->forward(without);
  EXPECT_FALSE(a.has("teacher1.logits"));
  EXPECT_FALSE(a.has("aux.0.logits"));
  EXPECT_TRUE(torch::equal(a.logits, b.logits));
  EXPECT_TRUE(torch::equal(a.at("pred_boxes"), b.at("pred_boxes")));
}

// anchor_query_pos: the positional queries are an MLP of the anchors' sine embedding (no learned
// query embeddings), a KS model's inference model is still its baseline's, and it refuses to run
// without anchors.
TEST(DetrModel, AnchorPositionalQueries) {
  torch::manual_seed(8);
  auto j = tiny_detr(true);
  j["query_anchors"] = true;
  j["anchor_query_pos"] = true;
  auto ks = create_model(j);
  auto state = ks->state();
  EXPECT_EQ(state.count("query_position_embeddings"), 0u);
  EXPECT_EQ(state.at("query_pos_head.layers.0.weight").sizes(), (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(state.at("query_pos_head.layers.1.weight").sizes(), (std::vector<int64_t>{16, 16}));
  auto plain = ks->inference_model();
  ASSERT_TRUE(plain);
  auto base_json = j;
  base_json["ks_triple_attention"] = false;
  auto base = create_model(base_json);
  std::vector<std::string> names, base_names;
  for (const auto& [n, t] : plain->state()) names.push_back(n);
  for (const auto& [n, t] : base->state()) base_names.push_back(n);
  EXPECT_EQ(names, base_names);
  auto batch = tiny_batch();
  ks->train();
  auto out = ks->forward(batch.input);
  EXPECT_TRUE(out.has("teacher1.logits"));
  // The anchors get a gradient through the positional queries too, not only through the boxes.
  auto loss = out.extra.at("aux.0.logits").sum();
  loss.backward();
  EXPECT_TRUE(ks->state().at("query_anchors").grad().defined());
  EXPECT_GT(ks->state().at("query_anchors").grad().abs().sum().item<double>(), 0.0);
  j["query_anchors"] = false;
  EXPECT_NE(test::error_of([&] { create_model(j); }).find("anchor_query_pos needs query_anchors"),
            std::string::npos);
}

// two_stage: every encoder token proposes a box ("enc.*", under its own set loss), the decoder's
// anchors are the best proposals (so each query's box starts on its proposal), no learned anchors,
// and the KS model's inference model is still exactly the baseline.
TEST(DetrModel, TwoStageProposalsAreTheQueriesAnchors) {
  torch::manual_seed(9);
  auto j = tiny_detr(true);
  j["query_anchors"] = true;
  j["anchor_query_pos"] = true;
  j["two_stage"] = true;
  auto ks = create_model(j);
  EXPECT_EQ(ks->state().count("query_anchors"), 0u);
  EXPECT_EQ(ks->state().count("enc_class.weight"), 1u);
  auto base_json = j;
  base_json["ks_triple_attention"] = false;
  auto base = create_model(base_json);
  std::vector<std::string> names, base_names;
  for (const auto& [n, t] : ks->inference_model()->state()) names.push_back(n);
  for (const auto& [n, t] : base->state()) base_names.push_back(n);
  EXPECT_EQ(names, base_names);
  auto batch = tiny_batch();
  base->eval();
  torch::NoGradGuard no_grad;
  auto out = base->forward(batch.input);
  const auto& enc_logits = out.at("enc.logits");
  const auto& enc_boxes = out.at("enc.pred_boxes");
  const int64_t tokens = enc_logits.size(1);
  ASSERT_EQ(enc_logits.sizes(), (std::vector<int64_t>{batch.input.pixel_values.size(0), tokens, 4}));
  // The box head's last layer starts at zero: each query's box is its proposal's box, and the
  // proposals are the 5 best tokens by class score.
  auto score = enc_logits.softmax(-1).narrow(-1, 0, 3).amax(-1).clone();
  ASSERT_EQ(tokens, 64);  // stride 4: 8 × 8 cells; image 1's last two columns are padding
  for (int64_t t = 0; t < tokens; ++t)
    if (t % 8 >= 6) score[1][t] = -1e9;
  for (int64_t b = 0; b < enc_logits.size(0); ++b) {
    auto top = std::get<1>(score[b].topk(5));
    auto expected = enc_boxes[b].index_select(0, top);
    EXPECT_TRUE(torch::allclose(out.at("pred_boxes")[b], expected, 1e-4, 1e-5)) << b;
  }
  j["anchor_query_pos"] = false;
  EXPECT_NE(test::error_of([&] { create_model(j); }).find("two_stage needs anchor_query_pos"),
            std::string::npos);
}

TEST(DetrModel, TrainingLowersTheLossWithABackboneGroup) {
  torch::manual_seed(6);
  auto j = tiny_detr(true);
  j["query_anchors"] = true;
  auto model = create_model(j);
  AdamWConfig c;
  c.lr = 3e-3;
  c.weight_decay = 0;
  c.lr_factors = {{"backbone.", 0.1}};
  NamedAdamW opt(model->state(), c);
  opt.set_lr(2e-3);
  int with_factor = 0;
  for (auto& g : opt.optimizer().param_groups()) {
    const double lr = static_cast<torch::optim::AdamWOptions&>(g.options()).lr();
    EXPECT_TRUE(std::abs(lr - 2e-3) < 1e-12 || std::abs(lr - 2e-4) < 1e-12) << lr;
    with_factor += std::abs(lr - 2e-4) < 1e-12;
  }
  EXPECT_EQ(with_factor, 2);  // the backbone's decayed and undecayed groups
  auto batch = tiny_batch();
  model->train();
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    opt.zero_grad();
    auto l = detection_loss(model->forward(batch.input), batch.targets, DetectionLossOptions{});
    l.total.backward();
    opt.step();
    (step == 0 ? first : last) = l.total.item<double>();
  }
  EXPECT_LT(last, 0.6 * first);
}

TEST(DetrModel, ConfigErrorsNameTheKey) {
  auto j = tiny_detr();
  j["d_model"] = 15;
  EXPECT_NE(test::error_of([&] { create_model(j); }).find("d_model"), std::string::npos);
  j = tiny_detr();
  j["num_channels"] = 2;
  EXPECT_NE(test::error_of([&] { create_model(j); }).find("num_channels"), std::string::npos);
  auto model = create_model(tiny_detr());
  ModelInput bad;
  bad.pixel_values = torch::zeros({1, 3, 32, 32});
  EXPECT_NE(test::error_of([&] { model->forward(bad); }).find("pixel_values must be [B, 1, H, W]"),
            std::string::npos);
}

// Bright squares on dark 32 px canvases, two categories (ids 4 and 9), for training end to end.
DetectionDataset squares(int64_t n, uint64_t seed, bool augment) {
  torch::manual_seed(seed);
  CocoDataset coco;
  coco.categories = {{4, "small", ""}, {9, "large", ""}};
  std::vector<torch::Tensor> images;
  for (int64_t i = 0; i < n; ++i) {
    coco.images.push_back({i + 1, std::to_string(i + 1) + ".png", 32, 28});
    auto img = torch::zeros({1, 28, 32}, torch::kUInt8);
    const int64_t side = i % 2 == 0 ? 6 : 12, x = (i * 5) % 18, y = (i * 3) % 14;
    img[0].narrow(0, y, side).narrow(1, x, side).fill_(220);
    CocoAnnotation a;
    a.id = i + 1;
    a.image_id = i + 1;
    a.category_id = i % 2 == 0 ? 4 : 9;
    a.bbox = {double(x), double(y), double(side), double(side)};
    a.area = double(side * side);
    coco.annotations.push_back(a);
    images.push_back(img);
  }
  DetectionDataOptions o;
  o.image_size = 32;
  if (augment) {
    o.augment.horizontal_flip = true;
    o.augment.scale_min = 0.8;
  }
  return DetectionDataset(coco, images, o);
}

// Outputs that say exactly the ground truth score AP 1 once mapped back to file pixels — also for
// an image larger than the canvas (scaled down to fit) — so the post-processing is right.
TEST(DetectionOutput, PerfectPredictionsScoreApOne) {
  auto data = squares(4, 3, false);
  auto coco = data.coco();
  coco.images[1].width = 64;  // twice the canvas: fitted at scale 0.5
  coco.images[1].height = 56;
  std::vector<torch::Tensor> images;
  for (int64_t i = 0; i < 4; ++i) images.push_back(data.sample(i).image);
  images[1] = torch::zeros({1, 56, 64}, torch::kUInt8);
  coco.annotations[1].bbox = {30, 20, 24, 16};
  coco.annotations[1].area = 24 * 16;
  DetectionDataOptions o;
  o.image_size = 32;
  DetectionDataset big(coco, images, o);
  for (bool focal : {false, true}) {
    auto batch = big.get({0, 1, 2, 3}, 0);
    const int64_t q = 5, classes = 2;
    auto logits = torch::full({4, q, classes + 1}, -10.0);
    logits.select(2, classes).fill_(10.0);  // every query: no object...
    auto boxes = torch::full({4, q, 4}, 0.5);
    for (int64_t i = 0; i < 4; ++i) {
      // ...except query 2, which states the one target exactly.
      const auto& t = batch.targets[static_cast<size_t>(i)];
      boxes[i][2] = t.at("boxes")[0];
      logits[i][2].fill_(-10.0);
      logits[i][2][t.at("class_labels")[0].item<int64_t>()] = 10.0;
    }
    ModelOutput out{logits, {{"pred_boxes", boxes}}};
    DetectionOutputOptions po;
    po.focal = focal;
    auto dets = detections_from_output(out, batch, big, po);
    EXPECT_EQ(dets.size(), 4u * q * classes);
    auto result = evaluate_coco(big.coco(), dets);
    EXPECT_NEAR(coco_metrics(result).at("AP"), 1.0, 1e-9) << (focal ? "focal" : "softmax");
    // The best detection of image 2 (64 × 56 file) is the file's own box.
    for (const auto& d : dets)
      if (d.image_id == 2 && d.score > 0.9) {
        EXPECT_NEAR(d.bbox.x, 30, 1e-3);
        EXPECT_NEAR(d.bbox.w, 24, 1e-3);
        EXPECT_EQ(d.category_id, 9);
      }
  }
}

// The per-branch evaluation of a KS detector. Oracle: a copy of the same weights without dropout,
// run in training mode (where the teachers run by construction), its teacher outputs turned into
// COCO detections here. The task's "teacher1.*" / "teacher2.*" equal evaluate_coco of those; its
// student numbers equal the plain evaluation's; evaluating changes no parameter or buffer, applies
// no dropout (the model has p = 0.3) and leaves the model in eval mode; a plain detector reports
// only its own 12 numbers.
TEST(DetectionTask, KsEvaluationScoresEachTeacherBranchInEvalMode) {
  auto val = squares(6, 2, false);
  auto config = tiny_detr(true);
  config["num_labels"] = 2;
  config["dropout"] = 0.3;
  config["attention_dropout"] = 0.3;
  config["num_queries"] = 30;
  torch::manual_seed(11);
  auto model = create_model(config);
  {
    // Every query of every branch near the box of image 2's square (x 5, y 3, side 12 px of a
    // 32 px canvas), a little apart per query and branch, so that the AP is not trivially 0.
    torch::NoGradGuard no_grad;
    auto head = dynamic_cast<DetrModelImpl&>(*model).bbox_predictor->layers[2]->as<torch::nn::Linear>();
    head->weight.normal_(0, 0.02);
    auto box = torch::tensor({11.0 / 32, 9.0 / 32, 12.0 / 32, 12.0 / 32});
    head->bias.copy_(torch::log(box / (1 - box)));
  }
  std::map<std::string, torch::Tensor> before;
  for (const auto& p : model->named_parameters()) before[p.key()] = p.value().clone();
  for (const auto& b : model->named_buffers()) before[b.key()] = b.value().clone();
  model->train();  // as the trainer leaves it between evaluations
  DetectionTask task(model, &val, 4, torch::kCPU);
  const auto metrics = task.evaluate();
  EXPECT_FALSE(model->is_training());
  EXPECT_EQ(task.selection_metric(), "AP");  // the best checkpoint stays the student's
  for (const auto& p : model->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), before.at(p.key()))) << p.key();
  for (const auto& b : model->named_buffers())
    EXPECT_TRUE(torch::equal(b.value(), before.at(b.key()))) << b.key();

  auto oracle_config = config;
  oracle_config["dropout"] = 0.0;
  oracle_config["attention_dropout"] = 0.0;
  auto oracle = create_model(oracle_config);
  oracle->load_state(model->state(), "the KS model under test");
  oracle->train();
  torch::NoGradGuard no_grad;
  std::map<std::string, std::vector<CocoDetection>> dets;
  for (const auto& idx : eval_batches(val.size(), 4)) {
    auto batch = val.get(idx, 0);
    auto out = oracle->forward(batch.input);
    auto flagged = batch.input;
    flagged.teacher_branches = true;
    auto evaluated = model->forward(flagged);  // eval mode: no dropout
    for (const std::string t : {"teacher1", "teacher2"}) {
      ModelOutput branch{out.at(t + ".logits"), {{"pred_boxes", out.at(t + ".pred_boxes")}}};
      EXPECT_TRUE(torch::allclose(evaluated.at(t + ".logits"), branch.logits, 1e-5, 1e-6)) << t;
      EXPECT_FALSE(torch::allclose(branch.logits, out.logits)) << t << " is the student";
      auto d = detections_from_output(branch, batch, val, DetectionOutputOptions{});
      dets[t].insert(dets[t].end(), d.begin(), d.end());
    }
    EXPECT_FALSE(evaluated.has("aux.0.logits"));
  }
  for (const std::string t : {"teacher1", "teacher2"}) {
    const auto want = coco_metrics(evaluate_coco(val.coco(), dets[t]));
    for (const auto& [name, value] : want)
      EXPECT_NEAR(metrics.at(t + "." + name), value, 1e-9) << t << "." << name;
  }
  EXPECT_GT(metrics.at("teacher1.AR100") + metrics.at("teacher2.AR100"), 0)  // not vacuous
      << "student AR100 " << metrics.at("AR100") << ", AP50 " << metrics.at("AP50");
  const auto student = coco_metrics(evaluate_detector(*model, val, 4, torch::kCPU, {}));
  for (const auto& [name, value] : student) EXPECT_EQ(metrics.at(name), value) << name;
  EXPECT_EQ(metrics.size(), 36u);

  auto plain_config = tiny_detr(false);
  plain_config["num_labels"] = 2;
  DetectionTask plain(create_model(plain_config), &val, 4, torch::kCPU);
  const auto plain_metrics = plain.evaluate();
  EXPECT_EQ(plain_metrics.size(), 12u);
  for (const auto& kv : plain_metrics) EXPECT_EQ(kv.first.find("teacher"), std::string::npos);
}

// attnd attn on a detector: the pictures written, and the cross-attention tapped in the first
// decoder layer equals softmax(q kᵀ/√d) over the unpadded tokens, q and k from that layer's own
// projections of its input (zeros + query positions through its self-attention and norm) and of
// the encoder's memory + positions.
TEST(DetectionAttention, WritesThePicturesAndTapsTheCrossAttention) {
  test::TempDir tmp;
  auto data = squares(2, 5, false);
  auto config = tiny_detr(false);
  config["num_labels"] = 2;
  torch::manual_seed(12);
  auto model = create_model(config);
  DetectionAttentionOptions o;
  o.out = tmp / "attn";
  o.queries = 3;
  const auto files = write_detection_attention(*model, data, 1, data.coco().categories, {}, o);
  std::vector<std::string> want_files;
  for (const char* f : {"encoder/layer0.png", "encoder/layer1.png", "encoder/grid.png",
                        "encoder_token.png", "cross.png"})
    want_files.push_back(tmp / (std::string("attn/") + f));
  EXPECT_EQ(files, want_files);
  for (const auto& f : files) EXPECT_GT(std::filesystem::file_size(f), 100u) << f;
  EXPECT_THROW(write_detection_attention(*model, data, 2, data.coco().categories, {}, o), InputError);

  auto& detr = dynamic_cast<DetrModelImpl&>(*model);
  auto input = data.get({1}, 0).input;
  input.foreground_mask = torch::Tensor();
  torch::NoGradGuard no_grad;
  Taps taps;
  taps.record(kRecordProbs | kRecordHidden);
  model->forward(input, &taps);
  const auto memory = taps.captures().at(LayerId(1)).hidden;  // the last encoder layer's output
  const auto e = detr.embed(input);
  ASSERT_FALSE(e.valid.all().item<bool>());  // the 28-row image leaves a padded token row
  auto dec = detr.decoder_layers[0]->as<DetrDecoderLayer>();
  const auto qp = detr.query_position_embeddings.unsqueeze(0);
  const auto tgt = torch::zeros_like(qp);
  AttentionInputs self;
  self.query = tgt;
  self.query_pos = qp;
  self.key_pos = qp;
  const auto h = dec->self_attn_layer_norm(
      tgt + dec->self_attn->forward(self, AttentionMask{}, nullptr, {Stack::kDecoder, 0}));
  const auto q = dec->encoder_attn->queries(h + qp), k = dec->encoder_attn->keys(memory + e.pos);
  auto logits = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(q.size(-1)));
  logits = logits.masked_fill(e.valid.logical_not().view({1, 1, 1, -1}),
                              -std::numeric_limits<double>::infinity());
  const auto& got = taps.captures().at({Stack::kCross, 0}).probs;
  EXPECT_TRUE(torch::allclose(got, logits.softmax(-1), 1e-5, 1e-6));
}

TEST(DetectionTraining, ResumedKsRunEqualsTheUninterruptedOneAndReportsCocoAp) {
  test::TempDir tmp;
  auto train = squares(16, 1, true), val = squares(6, 2, false);
  auto config = tiny_detr(true);
  config["num_labels"] = 2;
  auto options = [&](const std::string& dir) {
    TrainerOptions o;
    o.steps = 4;
    o.batch_size = 4;
    o.eval_every = 2;
    o.save_every = 1;
    o.warmup_steps = 1;
    o.adamw.lr = 1e-3;
    o.adamw.lr_factors = {{"backbone.", 0.1}};
    o.seed = 3;
    o.run_dir = dir;
    o.progress = Progress::Style::kQuiet;
    return o;
  };
  torch::manual_seed(7);
  auto model_a = create_model(config);
  DetectionTask task_a(model_a, &val, 4, torch::kCPU);
  auto a = Trainer(options(tmp / "a"), task_a, train).fit();
  ASSERT_TRUE(a.best_metrics.count("AP"));
  EXPECT_GE(a.best_metrics.at("AP"), 0.0);
  EXPECT_LE(a.best_metrics.at("AP"), 1.0);
  EXPECT_EQ(a.best_metrics.size(), 36u);  // the student's 12 COCO numbers and each teacher's
  EXPECT_TRUE(a.best_metrics.count("teacher1.AP") && a.best_metrics.count("teacher2.AR100"));

  torch::manual_seed(7);
  auto model_b = create_model(config);
  DetectionTask task_b(model_b, &val, 4, torch::kCPU);
  auto first = options(tmp / "b");
  first.stop_after = 3;
  Trainer(first, task_b, train).fit();
  torch::manual_seed(99);
  auto model_c = create_model(config);
  DetectionTask task_c(model_c, &val, 4, torch::kCPU);
  auto c = Trainer(options(tmp / "b"), task_c, train).fit(tmp / "b");
  EXPECT_EQ(c.steps_done, 4);
  auto sa = model_a->state(), sc = model_c->state();
  for (const auto& [name, t] : sa) EXPECT_TRUE(torch::equal(t, sc.at(name))) << name;
  EXPECT_EQ(a.final_metrics, c.final_metrics);
}

}  // namespace
}  // namespace attnd
