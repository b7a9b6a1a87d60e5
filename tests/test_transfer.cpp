// Attention transfer: the MAE teacher (patchify, masking, loss, HF names, encoder export), taps
// that inject queries/keys/values/partial heads, the copy-mode wrapper (checked by perturbing the
// weights it must not use), head-subset distillation, layer/head set parsing, ensembles, shifts.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "attnd/distill/distiller.h"
#include "attnd/distill/losses.h"
#include "attnd/models/model_io.h"
#include "attnd/methods/mae.h"
#include "attnd/methods/transfer.h"
#include "attnd/models/attention_copy.h"
#include "attnd/models/registry.h"
#include "attnd/models/vit.h"
#include "attnd/models/vit_mae.h"
#include "attnd/train/objectives.h"
#include "test_utils.h"

namespace {

using namespace attnd;
using attnd::test::error_of;
using attnd::test::expect_close;
using attnd::test::SyntheticImages;
using attnd::test::TempDir;
using attnd::test::tiny_vit_config;

nlohmann::json tiny_mae_config() {
  auto c = tiny_vit_config(2, 3);
  c["model_type"] = "vit_mae";
  c["image_size"] = 8;
  c["patch_size"] = 2;  // 16 patches
  c["decoder_hidden_size"] = 8;
  c["decoder_num_hidden_layers"] = 1;
  c["decoder_num_attention_heads"] = 2;
  c["decoder_intermediate_size"] = 16;
  c["mask_ratio"] = 0.75;
  c["norm_pix_loss"] = true;
  return c;
}

std::shared_ptr<VitMaeModelImpl> tiny_mae(uint64_t seed = 0) {
  torch::manual_seed(seed);
  return std::dynamic_pointer_cast<VitMaeModelImpl>(create_model(tiny_mae_config()));
}

Model tiny_vit(uint64_t seed, int64_t layers = 3) {
  torch::manual_seed(seed);
  return create_model(tiny_vit_config(layers, 3));
}

ModelInput images(int64_t n, uint64_t seed = 1) {
  SyntheticImages data(n, 3, seed);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  return data.get(idx, 0).input;
}

// ---- MAE ------------------------------------------------------------------------------------------

TEST(Mae, PatchifyMatchesAPixelLoop) {
  auto px = torch::arange(2 * 3 * 4 * 4, torch::kFloat).view({2, 3, 4, 4});
  auto p = patchify(px, 2);
  ASSERT_EQ(p.sizes(), torch::IntArrayRef({2, 4, 12}));
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t gy = 0; gy < 2; ++gy)
      for (int64_t gx = 0; gx < 2; ++gx)
        for (int64_t y = 0; y < 2; ++y)
          for (int64_t x = 0; x < 2; ++x)
            for (int64_t c = 0; c < 3; ++c)
              ASSERT_EQ(p[b][gy * 2 + gx][(y * 2 + x) * 3 + c].item<float>(),
                        px[b][c][gy * 2 + y][gx * 2 + x].item<float>());
}

TEST(Mae, SinCosTableFollowsTheFormula) {
  const int64_t dim = 8, grid = 3;
  auto t = sincos_position_table(dim, grid);
  ASSERT_EQ(t.sizes(), torch::IntArrayRef({1, grid * grid + 1, dim}));
  EXPECT_EQ(t[0][0].abs().sum().item<float>(), 0.0f);  // CLS row
  // Patch at row 2, column 1: first half encodes the column, second the row; each half is
  // [sin(pos·ω_i), cos(pos·ω_i)] with ω_i = 10000^(−i/(dim/4)).
  const int64_t r = 2, c = 1;
  auto row = t[0][1 + r * grid + c];
  for (int64_t i = 0; i < dim / 4; ++i) {
    const double w = std::pow(10000.0, -static_cast<double>(i) / (dim / 4));
    EXPECT_NEAR(row[i].item<float>(), std::sin(c * w), 1e-6);
    EXPECT_NEAR(row[dim / 4 + i].item<float>(), std::cos(c * w), 1e-6);
    EXPECT_NEAR(row[dim / 2 + i].item<float>(), std::sin(r * w), 1e-6);
    EXPECT_NEAR(row[dim / 2 + dim / 4 + i].item<float>(), std::cos(r * w), 1e-6);
  }
}

TEST(Mae, MaskKeepsTheLowestNoiseAndTheLossIsTheMaskedPatchMse) {
  auto mae = tiny_mae();
  mae->eval();
  auto px = images(3).pixel_values;
  auto noise = torch::rand({3, 16});
  Taps taps;
  taps.record(kRecordLogits, {0});
  auto out = mae->reconstruct(px, &taps, noise);
  // 16 patches, 75% masked: 4 visible + CLS reach the encoder.
  EXPECT_EQ(taps.at(0).logits.sizes(), torch::IntArrayRef({3, 2, 5, 5}));
  EXPECT_EQ(out.mask.sum(1).eq(12).all().item<bool>(), true);
  auto visible = noise.argsort(int64_t{1}).narrow(1, 0, 4);
  EXPECT_EQ(out.mask.gather(1, visible).sum().item<float>(), 0.0f);
  // Oracle: per-patch normalised targets, MSE averaged over the masked patches only.
  auto target = patchify(px, 2);
  target = (target - target.mean(-1, true)) / torch::sqrt(target.var(-1, true, true) + 1e-6);
  double sum = 0.0;
  int count = 0;
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t p = 0; p < 16; ++p)
      if (out.mask[b][p].item<float>() == 1.0f) {
        sum += (out.pred[b][p] - target[b][p]).pow(2).mean().item<double>();
        ++count;
      }
  EXPECT_NEAR(out.loss.item<double>(), sum / count, 1e-5);
}

TEST(Mae, VisiblePatchesDoNotDependOnMaskedPixels) {
  // The encoder sees only the visible patches: changing a masked patch's pixels changes no
  // prediction except through the (unseen) target.
  auto mae = tiny_mae();
  mae->eval();
  auto px = images(1).pixel_values;
  auto noise = torch::arange(16, torch::kFloat).unsqueeze(0);  // patches 0..3 visible
  auto a = mae->reconstruct(px, nullptr, noise);
  auto changed = px.clone();
  changed.narrow(2, 6, 2).narrow(3, 6, 2).fill_(5.0);  // patch 15 (masked)
  auto b = mae->reconstruct(changed, nullptr, noise);
  attnd::test::expect_tensors_equal(a.pred, b.pred);
  changed = px.clone();
  changed.narrow(2, 0, 2).narrow(3, 0, 2).fill_(5.0);  // patch 0 (visible)
  auto c = mae->reconstruct(changed, nullptr, noise);
  EXPECT_GT((a.pred - c.pred).abs().max().item<float>(), 1e-4);
}

TEST(Mae, NamesAreHfViTMAEAndPositionTablesAreFrozen) {
  auto mae = tiny_mae();
  auto state = mae->state();
  for (const char* name :
       {"vit.embeddings.cls_token", "vit.embeddings.position_embeddings",
        "vit.embeddings.patch_embeddings.projection.weight",
        "vit.encoder.layer.1.attention.attention.query.weight", "vit.layernorm.weight",
        "decoder.decoder_embed.weight", "decoder.mask_token", "decoder.decoder_pos_embed",
        "decoder.decoder_layers.0.attention.output.dense.weight", "decoder.decoder_norm.bias",
        "decoder.decoder_pred.weight"})
    EXPECT_TRUE(state.count(name)) << name;
  EXPECT_FALSE(state.at("vit.embeddings.position_embeddings").requires_grad());
  EXPECT_FALSE(state.at("decoder.decoder_pos_embed").requires_grad());
  auto out = mae->reconstruct(images(2).pixel_values);
  out.loss.backward();
  EXPECT_TRUE(state.at("decoder.mask_token").grad().defined());
  EXPECT_TRUE(state.at("vit.encoder.layer.0.attention.attention.key.weight").grad().defined());
}

TEST(Mae, EncoderExportsAsAViTWithTheSameWeights) {
  TempDir tmp;
  auto mae = tiny_mae(3);
  save_model(tmp / "mae", *mae);
  auto vit = export_mae_encoder(tmp / "mae", tmp / "encoder", {"a", "b", "c", "d"}, "mean", 0);
  auto loaded = load_model(tmp / "encoder");
  ASSERT_EQ(loaded->model_type(), "vit");
  auto s = loaded->state();
  auto m = mae->state();
  for (const auto& [name, t] : s) {
    if (name.rfind("vit.", 0) == 0) {
      attnd::test::expect_tensors_equal(t, m.at(name), name);
    }
  }
  EXPECT_EQ(s.at("classifier.weight").size(0), 4);
  EXPECT_EQ(loaded->config_json()["attnd"]["pooling"], "mean");
  EXPECT_EQ(loaded->config_json()["id2label"]["3"], "d");
  EXPECT_NE(error_of([&] { export_mae_encoder(tmp / "encoder", tmp / "x", {"a"}, "cls", 0); })
                .find("not an MAE"),
            std::string::npos);
}

TEST(Mae, BadConfigIsNamed) {
  auto c = tiny_mae_config();
  c["mask_ratio"] = 1.0;
  EXPECT_NE(error_of([&] { create_model(c); }).find("mask_ratio"), std::string::npos);
}

// ---- taps: partial-head and projection injection ---------------------------------------------------

TEST(Taps, PartialHeadInjectionMixesTeacherAndOwnLogits) {
  auto model = tiny_vit(1);
  model->eval();
  auto input = images(2);
  Taps own;
  own.record(kRecordLogits | kRecordProbs, {1});
  model->forward(input, &own);
  auto given = torch::randn_like(own.at(1).logits);
  Taps taps;
  taps.inject_logits(1, given, {1});
  taps.record(kRecordProbs, {1});
  model->forward(input, &taps);
  auto probs = taps.at(1).probs;
  expect_close(probs.select(1, 0), torch::softmax(own.at(1).logits.select(1, 0), -1), 1e-6);
  expect_close(probs.select(1, 1), torch::softmax(given.select(1, 1), -1), 1e-6);
}

TEST(Taps, InjectedQueriesReplaceTheLayersOwn) {
  auto teacher = tiny_vit(1), student = tiny_vit(2);
  teacher->eval();
  student->eval();
  auto input = images(2);
  Taps t;
  t.record(kRecordQueries | kRecordKeys | kRecordValues, {0});
  teacher->forward(input, &t);
  EXPECT_EQ(t.at(0).queries.sizes(), torch::IntArrayRef({2, 2, 5, 8}));
  Taps s;
  s.inject_projection(0, Projection::kQuery, t.at(0).queries);
  s.record(kRecordLogits | kRecordKeys, {0});
  student->forward(input, &s);
  // Oracle: softmax(Q_t K_sᵀ/√d).
  expect_close(s.at(0).logits,
               torch::matmul(t.at(0).queries, s.at(0).keys.transpose(-1, -2)) / std::sqrt(8.0),
               1e-5);
  Taps bad;
  bad.inject_projection(0, Projection::kValue, torch::zeros({2, 2, 4, 8}));
  EXPECT_NE(error_of([&] { student->forward(input, &bad); }).find("injected values"),
            std::string::npos);
}

// ---- attention copy ---------------------------------------------------------------------------------

struct CopyFixture {
  TempDir tmp;
  Model teacher, student;
  std::shared_ptr<AttentionCopyModelImpl> copy;
  CopyFixture(const std::string& mode, std::vector<int64_t> layers, std::vector<int64_t> heads = {}) {
    teacher = tiny_vit(1);
    save_model(tmp / "teacher", *teacher);
    student = tiny_vit(2);
    AttentionCopySpec spec;
    spec.mode = parse_copy_mode(mode);
    spec.layers = std::move(layers);
    spec.heads = std::move(heads);
    spec.teacher = tmp / "teacher";
    copy = std::make_shared<AttentionCopyModelImpl>(student, load_model(tmp / "teacher"), spec);
    copy->eval();
  }
  // The wrapper's output after adding noise to one of the student's weights.
  torch::Tensor output_after_perturbing(const std::string& name, const ModelInput& input) {
    torch::NoGradGuard no_grad;
    auto p = copy->state().at(name);
    auto saved = p.clone();
    p.add_(torch::randn_like(p));
    auto out = copy->forward(input).logits;
    p.copy_(saved);
    return out;
  }
};

std::string proj(int64_t layer, const std::string& which) {
  return "vit.encoder.layer." + std::to_string(layer) + ".attention.attention." + which + ".weight";
}

TEST(AttentionCopy, CopiedLayersIgnoreTheStudentsQueriesAndKeys) {
  CopyFixture f("copy", {0, 1});
  auto input = images(2);
  auto base = f.copy->forward(input).logits;
  expect_close(f.output_after_perturbing(proj(0, "query"), input), base, 0.0);
  expect_close(f.output_after_perturbing(proj(1, "key"), input), base, 0.0);
  // The last layer computes its own attention; values are the student's everywhere.
  EXPECT_GT((f.output_after_perturbing(proj(2, "query"), input) - base).abs().max().item<float>(), 1e-6);
  EXPECT_GT((f.output_after_perturbing(proj(0, "value"), input) - base).abs().max().item<float>(), 1e-6);
  // Oracle: the student with the teacher's recorded logits injected by hand.
  Taps t;
  t.record(kRecordLogits, {0, 1});
  f.teacher->eval();
  f.teacher->forward(input, &t);
  Taps s;
  s.inject_logits(0, t.at(0).logits).inject_logits(1, t.at(1).logits);
  f.student->eval();
  expect_close(f.student->forward(input, &s).logits, base, 1e-6);
}

TEST(AttentionCopy, ModesCopyQCopyKCopyVUseTheTeachersProjection) {
  auto input = images(2);
  {
    CopyFixture f("copy_q", {0});
    auto base = f.copy->forward(input).logits;
    expect_close(f.output_after_perturbing(proj(0, "query"), input), base, 0.0);
    EXPECT_GT((f.output_after_perturbing(proj(0, "key"), input) - base).abs().max().item<float>(), 1e-6);
  }
  {
    CopyFixture f("copy_k", {0});
    auto base = f.copy->forward(input).logits;
    expect_close(f.output_after_perturbing(proj(0, "key"), input), base, 0.0);
    EXPECT_GT((f.output_after_perturbing(proj(0, "query"), input) - base).abs().max().item<float>(), 1e-6);
  }
  {
    CopyFixture f("copy_v", {0});
    auto base = f.copy->forward(input).logits;
    expect_close(f.output_after_perturbing(proj(0, "value"), input), base, 0.0);
    EXPECT_GT((f.output_after_perturbing(proj(0, "query"), input) - base).abs().max().item<float>(), 1e-6);
  }
}

TEST(AttentionCopy, HeadSubsetCopiesOnlyThoseHeads) {
  CopyFixture f("copy", {0}, {0});
  auto input = images(2);
  auto base = f.copy->forward(input).logits;
  // Head 0's query rows are columns 0..7 of the query weight's output; head 1's are 8..15.
  torch::NoGradGuard no_grad;
  auto w = f.copy->state().at(proj(0, "query"));
  auto saved = w.clone();
  // (random, not constant: the LayerNormed input sums to zero, so a constant shift changes nothing)
  w.narrow(0, 0, 8).add_(torch::randn({8, 16}));
  expect_close(f.copy->forward(input).logits, base, 0.0);
  w.copy_(saved);
  w.narrow(0, 8, 8).add_(torch::randn({8, 16}));
  EXPECT_GT((f.copy->forward(input).logits - base).abs().max().item<float>(), 1e-6);
  w.copy_(saved);
}

TEST(AttentionCopy, ParametersAreTheStudentsAndTheCheckpointBringsTheTeacher) {
  CopyFixture f("copy", {0, 1});
  auto names = f.copy->state();
  auto student_names = f.student->state();
  ASSERT_EQ(names.size(), student_names.size());
  for (const auto& kv : student_names) EXPECT_TRUE(names.count(kv.first)) << kv.first;
  // Training reaches the student, never the teacher.
  f.copy->train();
  auto loss = f.copy->forward(images(2)).logits.sum();
  loss.backward();
  for (const auto& p : f.copy->teacher()->parameters()) EXPECT_FALSE(p.grad().defined());
  EXPECT_TRUE(names.at(proj(0, "value")).grad().defined());
  EXPECT_FALSE(names.at(proj(0, "query")).grad().defined());  // not used in a copied layer

  save_model(f.tmp / "student", *f.copy);
  auto loaded = load_model(f.tmp / "student");
  auto* wrapper = dynamic_cast<AttentionCopyModelImpl*>(loaded.get());
  ASSERT_NE(wrapper, nullptr);
  EXPECT_EQ(wrapper->spec().layers, (std::vector<int64_t>{0, 1}));
  loaded->eval();
  f.copy->eval();
  auto input = images(3);
  expect_close(loaded->forward(input).logits, f.copy->forward(input).logits, 1e-6);

  std::filesystem::remove_all(f.tmp / "teacher");
  auto message = error_of([&] { load_model(f.tmp / "student"); });
  EXPECT_NE(message.find("needs its teacher"), std::string::npos) << message;
}

// ---- distillation over a head subset ---------------------------------------------------------------

TEST(TransferDistill, HeadSubsetLossIsTheSoftCrossEntropyOfThoseHeads) {
  auto teacher = tiny_vit(1), student = tiny_vit(2);
  DistillSpec spec;
  spec.task_weight = 0.0;
  spec.terms.push_back({DistillLoss::kAttnSoftCE, 1, 1, 1.0, {1}});
  DistillTask task(teacher, student, spec, nullptr, 8, torch::kCPU);
  SyntheticImages data(4, 3, 5);
  auto batch = data.get({0, 1, 2, 3}, 0);
  student->train();
  auto loss = task.loss(batch);
  // Oracle: −Σ softmax(T)·log_softmax(S) over head 1, averaged over batch and queries.
  Taps t, s;
  t.record(kRecordLogits, {1});
  s.record(kRecordLogits, {1});
  teacher->forward(batch.input, &t);
  student->forward(batch.input, &s);
  auto pt = torch::softmax(t.at(1).logits.select(1, 1), -1);
  auto ls = torch::log_softmax(s.at(1).logits.select(1, 1), -1);
  auto expected = -(pt * ls).sum(-1).mean().item<double>();
  EXPECT_NEAR(loss.total.item<double>(), expected, 1e-5);
}

// ---- parsing ----------------------------------------------------------------------------------------

TEST(TransferSpecs, LayerAndHeadSets) {
  using V = std::vector<int64_t>;
  EXPECT_EQ(parse_layer_set("all", 4), (V{0, 1, 2, 3}));
  EXPECT_EQ(parse_layer_set("none", 4), V{});
  EXPECT_EQ(parse_layer_set("all_but_last:1", 4), (V{0, 1, 2}));
  EXPECT_EQ(parse_layer_set("first:2", 4), (V{0, 1}));
  EXPECT_EQ(parse_layer_set("last:2", 4), (V{2, 3}));
  EXPECT_EQ(parse_layer_set("3,1,1", 4), (V{1, 3}));
  EXPECT_NE(error_of([] { parse_layer_set("first:5", 4); }).find("only 4 layers"), std::string::npos);
  EXPECT_NE(error_of([] { parse_layer_set("0,9", 4); }).find("out of range"), std::string::npos);
  EXPECT_NE(error_of([] { parse_layer_set("middle:2", 4); }).find("all_but_last:k"), std::string::npos);
  EXPECT_NE(error_of([] { parse_layer_set("a", 4); }).find("non-negative integer"), std::string::npos);
  EXPECT_EQ(parse_head_set("all", 4), V{});
  EXPECT_EQ(parse_head_set("first:2", 4), (V{0, 1}));
  EXPECT_EQ(parse_head_set("first:4", 4), V{});
  EXPECT_EQ(parse_head_set("2,0", 4), (V{0, 2}));
  EXPECT_NE(error_of([] { parse_head_set("first:0", 4); }).find("1..4"), std::string::npos);
  EXPECT_EQ(parse_transfer_mode("copy_v"), TransferMode::kCopyV);
  EXPECT_NE(error_of([] { parse_transfer_mode("paste"); }).find("copy_q"), std::string::npos);
}

TEST(TransferSpecs, ImageShifts) {
  auto t = parse_image_transform("invert+rotate180+noise:0.25");
  EXPECT_TRUE(t.invert);
  EXPECT_EQ(t.rotate_quarters, 2);
  EXPECT_DOUBLE_EQ(t.noise_std, 0.25);
  EXPECT_TRUE(parse_image_transform("none").identity());
  EXPECT_NE(error_of([] { parse_image_transform("blur"); }).find("'blur' is not known"), std::string::npos);
  EXPECT_NE(error_of([] { parse_image_transform("noise:x"); }).find("noise:0.2"), std::string::npos);
}

TEST(Ensemble, IsTheMeanOfTheMembersProbabilities) {
  auto a = tiny_vit(1), b = tiny_vit(2);
  SyntheticImages data(40, 3, 7);
  auto metrics = evaluate_ensemble({a, b}, data, 16, torch::kCPU);
  auto pa = predict_probabilities(*a, data, 16, torch::kCPU);
  auto pb = predict_probabilities(*b, data, 16, torch::kCPU);
  auto mean = (pa + pb) / 2;
  std::vector<int64_t> all;
  for (int64_t i = 0; i < 40; ++i) all.push_back(i);
  auto labels = data.get(all, 0).labels;
  int correct = 0;
  double nll = 0;
  for (int64_t i = 0; i < 40; ++i) {
    correct += mean[i].argmax().item<int64_t>() == labels[i].item<int64_t>();
    nll -= std::log(mean[i][labels[i].item<int64_t>()].item<double>());
  }
  EXPECT_NEAR(metrics.at("accuracy"), correct / 40.0, 1e-12);
  EXPECT_NEAR(metrics.at("loss"), nll / 40.0, 1e-5);
}

}  // namespace
