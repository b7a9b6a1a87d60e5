// The engine's seams: model traits and the task-kind table, evaluation sums that add across
// shards, ModelOutput and ragged targets, cross-attention with positional terms, and taps that
// address a layer by (stack, index). Oracles: hand computations and loops.
#include <cmath>
#include <set>

#include "attnd/models/attention_copy.h"
#include "attnd/models/registry.h"
#include "attnd/nn/attention.h"
#include "attnd/train/objectives.h"
#include "attnd/train/task_kinds.h"
#include "test_utils.h"

namespace attnd {
namespace {

using test::error_of;
using test::expect_close;

nlohmann::json tiny_config(const std::string& type) {
  if (type == "vit") return test::tiny_vit_config();
  if (type == "vit_mae")
    return {{"model_type", "vit_mae"}, {"hidden_size", 16}, {"num_hidden_layers", 1},
            {"num_attention_heads", 2}, {"intermediate_size", 32}, {"image_size", 8},
            {"patch_size", 4}, {"num_channels", 1}, {"decoder_hidden_size", 8},
            {"decoder_num_hidden_layers", 1}, {"decoder_num_attention_heads", 2},
            {"decoder_intermediate_size", 16}};
  if (type == "detr")
    return {{"model_type", "detr"}, {"backbone_width", 8}, {"backbone_stages", 2}, {"d_model", 16},
            {"encoder_layers", 1}, {"decoder_layers", 1}, {"encoder_attention_heads", 2},
            {"decoder_attention_heads", 2}, {"encoder_ffn_dim", 16}, {"decoder_ffn_dim", 16},
            {"num_queries", 4}, {"num_labels", 3}};
  if (type == "bert")
    return {{"model_type", "bert"}, {"vocab_size", 30}, {"hidden_size", 16},
            {"num_hidden_layers", 1}, {"num_attention_heads", 2}, {"intermediate_size", 32},
            {"max_position_embeddings", 16}, {"hidden_dropout_prob", 0.0},
            {"attention_probs_dropout_prob", 0.0}};
  return {{"model_type", "gpt2"}, {"vocab_size", 30}, {"n_positions", 16}, {"n_embd", 16},
          {"n_layer", 1}, {"n_head", 2}, {"resid_pdrop", 0.0}, {"embd_pdrop", 0.0},
          {"attn_pdrop", 0.0}};
}

// ---- traits ---------------------------------------------------------------------------------------

TEST(ModelTraits, EachFamilyDeclaresWhatItIsAndTheRegistryAgrees) {
  struct Expected {
    TaskKind task;
    Modality modality;
    bool causal;
    Pooling pooling;
  };
  // Written from the models' documentation (HF's task heads), not from the code.
  const std::map<std::string, Expected> expected = {
      {"vit", {TaskKind::kClassification, Modality::kImage, false, Pooling::kCls}},
      {"vit_mae", {TaskKind::kMaskedPatches, Modality::kImage, false, Pooling::kNone}},
      {"bert", {TaskKind::kClassification, Modality::kText, false, Pooling::kCls}},
      {"gpt2", {TaskKind::kLanguageModel, Modality::kText, true, Pooling::kNone}},
      {"detr", {TaskKind::kDetection, Modality::kImage, false, Pooling::kNone}},
  };
  const auto types = registered_model_types();
  ASSERT_EQ(std::set<std::string>(types.begin(), types.end()).size(), expected.size());
  for (const auto& type : types) {
    ASSERT_TRUE(expected.count(type)) << type << " has no expected traits in this test";
    const auto& e = expected.at(type);
    auto model = create_model(tiny_config(type));
    EXPECT_EQ(model->task_kind(), e.task) << type;
    EXPECT_EQ(model->modality(), e.modality) << type;
    EXPECT_EQ(model->is_causal(), e.causal) << type;
    EXPECT_EQ(model->pooling(), e.pooling) << type;
    const auto listed = model_traits(type);
    EXPECT_EQ(listed.task, e.task) << type;
    EXPECT_EQ(listed.modality, e.modality) << type;
    EXPECT_EQ(listed.causal, e.causal) << type;
  }
  auto mean_vit = test::tiny_vit_config();
  mean_vit["attnd"] = {{"pooling", "mean"}};
  EXPECT_EQ(create_model(mean_vit)->pooling(), Pooling::kMean);
  EXPECT_NE(error_of([] { model_traits("resnet"); }).find("unknown model_type 'resnet'"),
            std::string::npos);
}

TEST(ModelTraits, PatchGridAndAttentionMaskFollowTheConfig) {
  auto vit = create_model(test::tiny_vit_config());  // 8 px images, 4 px patches
  EXPECT_EQ(vit->patch_grid().rows, 2);
  EXPECT_EQ(vit->patch_grid().cols, 2);
  EXPECT_TRUE(create_model(tiny_config("bert"))->patch_grid().empty());

  ModelInput in;
  in.input_ids = torch::zeros({2, 5}, torch::kLong);
  in.attention_mask = torch::tensor({1, 1, 1, 0, 0, 1, 1, 1, 1, 1}, torch::kLong).view({2, 5});
  auto gpt_mask = create_model(tiny_config("gpt2"))->attention_mask(in);
  EXPECT_TRUE(gpt_mask.causal);
  EXPECT_TRUE(torch::equal(gpt_mask.key_padding, in.attention_mask));
  auto bert_mask = create_model(tiny_config("bert"))->attention_mask(in);
  EXPECT_FALSE(bert_mask.causal);
  EXPECT_TRUE(torch::equal(bert_mask.key_padding, in.attention_mask));
}

TEST(ModelTraits, AnAttentionCopyStudentIsWhatItsStudentIs) {
  torch::manual_seed(0);
  auto student = create_model(test::tiny_vit_config());
  auto teacher = create_model(test::tiny_vit_config());
  AttentionCopySpec spec;
  spec.layers = {0};
  spec.teacher = "/nowhere";  // only create_attention_copy_model loads it
  AttentionCopyModelImpl copy(student, teacher, spec);
  EXPECT_EQ(copy.task_kind(), TaskKind::kClassification);
  EXPECT_EQ(copy.modality(), Modality::kImage);
  EXPECT_EQ(copy.patch_grid().rows, 2);
  // A text teacher cannot give a ViT its attention.
  auto bert = create_model(tiny_config("bert"));
  EXPECT_NE(error_of([&] { AttentionCopyModelImpl(student, bert, spec); }).find("reads text inputs"),
            std::string::npos);
}

// ---- the task-kind table ------------------------------------------------------------------------

TEST(TaskKinds, ClassificationLossAndMetricsByHand) {
  const auto& t = task_kind_info(TaskKind::kClassification);
  ModelOutput out{torch::tensor({{2.0, 0.0}, {0.0, 1.0}, {3.0, 1.0}}, torch::kFloat), {}};
  Batch batch;
  batch.labels = torch::tensor({0, 0, 0}, torch::kLong);
  // −log softmax: row 0 log(1+e^−2), row 1 log(1+e^1), row 2 log(1+e^−2).
  const double l0 = std::log1p(std::exp(-2.0)), l1 = std::log1p(std::exp(1.0));
  EXPECT_NEAR(t.loss(out, batch, 0.0).item<double>(), (2 * l0 + l1) / 3, 1e-6);
  EvalSums sums;
  t.accumulate(out, batch, sums);
  auto m = t.metrics(sums);
  EXPECT_NEAR(m.at("accuracy"), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.at("loss"), (2 * l0 + l1) / 3, 1e-6);
  EXPECT_EQ(t.selection_metric, "accuracy");
  EXPECT_TRUE(t.higher_is_better);
  EXPECT_NE(error_of([&] { t.metrics(EvalSums{}); }).find("empty"), std::string::npos);
}

TEST(TaskKinds, LanguageModelScoresTheNextTokenAndSkipsIgnoredLabels) {
  const auto& t = task_kind_info(TaskKind::kLanguageModel);
  // One sequence of 3 positions over a vocabulary of 2: position 0 predicts label 1, position 1
  // predicts label 2 (ignored), position 2 predicts nothing.
  ModelOutput out{torch::tensor({{{0.0, 1.0}, {5.0, 0.0}, {0.0, 0.0}}}, torch::kFloat), {}};
  Batch batch;
  batch.labels = torch::tensor({{7, 1, -100}}, torch::kLong);
  const double nll = std::log1p(std::exp(-1.0));  // −log softmax([0, 1])[1]
  EXPECT_NEAR(t.loss(out, batch, 0.0).item<double>(), nll, 1e-6);
  EvalSums sums;
  t.accumulate(out, batch, sums);
  auto m = t.metrics(sums);
  EXPECT_EQ(m.at("tokens"), 1.0);
  EXPECT_NEAR(m.at("loss"), nll, 1e-6);
  EXPECT_NEAR(m.at("perplexity"), std::exp(nll), 1e-5);
  EXPECT_EQ(m.at("accuracy"), 1.0);
  EXPECT_EQ(t.selection_metric, "loss");
  EXPECT_FALSE(t.higher_is_better);
}

TEST(TaskKinds, MaskedPatchesWeighsEachBatchByItsMaskedPatches) {
  const auto& t = task_kind_info(TaskKind::kMaskedPatches);
  EvalSums sums;
  Batch none;
  // Batch means 1.0 over 3 masked patches and 4.0 over 1: the set's mean is 7/4, not 5/2.
  t.accumulate({torch::zeros({1}), {{"loss", torch::tensor(1.0)}, {"mask", torch::ones({3})}}},
               none, sums);
  t.accumulate({torch::zeros({1}), {{"loss", torch::tensor(4.0)}, {"mask", torch::ones({1})}}},
               none, sums);
  EXPECT_NEAR(t.metrics(sums).at("loss"), 7.0 / 4.0, 1e-12);
  // The loss comes from the model's own output; a model without one is named.
  EXPECT_NE(std::string(test::error_of([&] { t.loss(ModelOutput{torch::zeros({1}), {}}, none, 0); }))
                .find("no 'loss'"),
            std::string::npos);
}

TEST(TaskKinds, DetectionIsSelectedByApAndEvaluatedAsAWhole) {
  const auto& t = task_kind_info(TaskKind::kDetection);
  EXPECT_EQ(t.selection_metric, "AP");
  EXPECT_TRUE(t.higher_is_better);
  // AP does not add across batches: the batch-wise path refuses, DetectionTask evaluates.
  Batch none;
  EvalSums sums;
  EXPECT_THROW(t.accumulate(ModelOutput{}, none, sums), Error);
  sums.add("AP", 0.25);
  EXPECT_EQ(t.metrics(sums).at("AP"), 0.25);
}

// ---- evaluation sums add across shards --------------------------------------------------------------

TEST(EvalSums, TwoShardsAddUpToTheWholeSet) {
  torch::manual_seed(0);
  auto model = create_model(test::tiny_vit_config());
  test::SyntheticImages data(13, 3);
  std::vector<int64_t> even, odd;
  for (int64_t i = 0; i < 13; ++i) (i % 2 ? odd : even).push_back(i);
  auto whole = evaluate_sums(*model, data, 4, torch::kCPU);
  auto shards = evaluate_sums(*model, data, 4, torch::kCPU, even);
  shards += evaluate_sums(*model, data, 4, torch::kCPU, odd);
  for (const auto& key : {"loss_sum", "correct", "examples"})
    EXPECT_NEAR(shards.get(key), whole.get(key), 1e-4) << key;
  // The metrics of the summed shards equal a per-example loop.
  auto m = task_kind_info(TaskKind::kClassification).metrics(shards);
  torch::NoGradGuard no_grad;
  double loss = 0, correct = 0;
  for (int64_t i = 0; i < 13; ++i) {
    auto b = data.get({i}, 0);
    auto logits = model->forward(b.input).logits[0];
    loss -= torch::log_softmax(logits, -1)[b.labels[0].item<int64_t>()].item<double>();
    correct += logits.argmax().item<int64_t>() == b.labels[0].item<int64_t>();
  }
  EXPECT_NEAR(m.at("loss"), loss / 13, 1e-5);
  EXPECT_NEAR(m.at("accuracy"), correct / 13, 1e-12);
  EXPECT_NE(error_of([&] { evaluate_sums(*model, data, 0, torch::kCPU); }).find("batch size"),
            std::string::npos);
}

TEST(EvalSums, AMaskedAutoencoderScoresTheSameTwice) {
  // Its masks are random: evaluation seeds them, so two evaluations agree exactly.
  torch::manual_seed(0);
  auto mae = create_model(tiny_config("vit_mae"));
  test::SyntheticImages data(6, 2);
  auto a = evaluate_model(*mae, data, 4, torch::kCPU);
  torch::rand({5});  // move the global RNG on
  auto b = evaluate_model(*mae, data, 4, torch::kCPU);
  ASSERT_TRUE(a.count("loss"));
  EXPECT_EQ(a.at("loss"), b.at("loss"));
  EXPECT_GT(a.at("loss"), 0.0);
}

// ---- ModelOutput and targets -----------------------------------------------------------------------

TEST(ModelOutput, ExtraOutputsByNameAndAClearMissingName) {
  ModelOutput out{torch::zeros({2, 3}), {{"pred_boxes", torch::zeros({2, 5, 4})}}};
  EXPECT_TRUE(out.has("pred_boxes"));
  EXPECT_EQ(out.at("pred_boxes").size(2), 4);
  try {
    out.at("loss");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no 'loss' (it has: logits, pred_boxes)"), std::string::npos)
        << e.what();
  }
  // A masked autoencoder returns its reconstruction loss and mask beside the predicted pixels.
  torch::manual_seed(0);
  auto mae = create_model(tiny_config("vit_mae"));
  ModelInput in;
  in.pixel_values = torch::rand({2, 1, 8, 8});
  auto o = mae->forward(in);
  EXPECT_EQ(o.logits.sizes(), torch::IntArrayRef({2, 4, 16}));
  EXPECT_EQ(o.at("mask").sizes(), torch::IntArrayRef({2, 4}));
  EXPECT_EQ(o.at("loss").dim(), 0);
}

TEST(Batch, RaggedTargetsTravelPerExample) {
  Batch b;
  b.input.pixel_values = torch::zeros({2, 3, 4, 4});
  b.targets = {{{"boxes", torch::rand({3, 4})}, {"class_labels", torch::tensor({1, 2, 0})}},
               {{"boxes", torch::rand({1, 4})}, {"class_labels", torch::tensor({4})}}};
  EXPECT_EQ(b.size(), 2);  // from the inputs: there are no dense labels
  auto moved = b.to(torch::kCPU);
  ASSERT_EQ(moved.targets.size(), 2u);
  EXPECT_EQ(moved.targets[0].at("boxes").size(0), 3);
  EXPECT_EQ(moved.targets[1].at("class_labels")[0].item<int64_t>(), 4);
  EXPECT_FALSE(moved.labels.defined());
}

// ---- cross-attention --------------------------------------------------------------------------------

TEST(Attention, CrossAttentionWithPositionalTermsMatchesAHandComputation) {
  torch::manual_seed(0);
  AttentionOptions o;
  o.hidden_size = 8;
  o.num_heads = 2;
  o.layout = AttentionLayout::kVit;
  Attention a(o);
  a->eval();
  const int64_t b = 2, nq = 3, nk = 5, dh = 4;
  AttentionInputs in;
  in.query = torch::randn({b, nq, 8});
  in.key_value = torch::randn({b, nk, 8});
  in.query_pos = torch::randn({1, nq, 8});
  in.key_pos = torch::randn({b, nk, 8});
  AttentionMask mask;
  mask.key_padding = torch::tensor({1, 1, 1, 1, 0, 1, 1, 0, 0, 0}, torch::kLong).view({b, nk});
  Taps taps;
  const LayerId id(Stack::kCross, 0);
  taps.record(kRecordProbs, {id});
  auto out = a->forward(in, mask, &taps, id);
  ASSERT_EQ(out.sizes(), torch::IntArrayRef({b, nq, 8}));

  // Oracle: loops over batch, head, query and key with the module's own weights.
  auto params = a->named_parameters();
  auto wq = params["attention.query.weight"], bq = params["attention.query.bias"];
  auto wk = params["attention.key.weight"], bk = params["attention.key.bias"];
  auto wv = params["attention.value.weight"], bv = params["attention.value.bias"];
  auto wo = params["output.dense.weight"], bo = params["output.dense.bias"];
  torch::NoGradGuard no_grad;
  auto q = torch::matmul(in.query + in.query_pos, wq.t()) + bq;
  auto k = torch::matmul(in.key_value + in.key_pos, wk.t()) + bk;
  auto v = torch::matmul(in.key_value, wv.t()) + bv;  // values never see the positions
  auto context = torch::zeros({b, nq, 8});
  for (int64_t x = 0; x < b; ++x)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 0; i < nq; ++i) {
        std::vector<double> logits;
        double max_logit = -1e300;
        for (int64_t j = 0; j < nk; ++j) {
          double s = 0;
          for (int64_t d = 0; d < dh; ++d)
            s += q[x][i][h * dh + d].item<double>() * k[x][j][h * dh + d].item<double>();
          s /= std::sqrt(static_cast<double>(dh));
          logits.push_back(s);
          if (mask.key_padding[x][j].item<int64_t>()) max_logit = std::max(max_logit, s);
        }
        double z = 0;
        std::vector<double> p(nk, 0.0);
        for (int64_t j = 0; j < nk; ++j)
          if (mask.key_padding[x][j].item<int64_t>()) z += (p[j] = std::exp(logits[j] - max_logit));
        for (int64_t j = 0; j < nk; ++j) {
          p[j] /= z;
          EXPECT_NEAR(taps.at(id).probs[x][h][i][j].item<double>(), p[j], 1e-6);
          for (int64_t d = 0; d < dh; ++d)
            context[x][i][h * dh + d] += p[j] * v[x][j][h * dh + d].item<double>();
        }
      }
  expect_close(out, torch::matmul(context, wo.t()) + bo, 1e-5, "cross-attention output");
  // Without key_value it is self-attention: the same as the plain form.
  AttentionInputs self;
  self.query = in.query;
  expect_close(a->forward(self, AttentionMask{}, nullptr, 0),
               a->forward(in.query, AttentionMask{}, nullptr, 0), 0.0, "self");
}

// ---- taps by (stack, index) -------------------------------------------------------------------------

TEST(Taps, StacksAreAddressedApart) {
  Taps taps;
  const LayerId encoder0(0), decoder0(Stack::kDecoder, 0), cross1(Stack::kCross, 1);
  taps.record(kRecordProbs, {decoder0, cross1});
  EXPECT_FALSE(taps.wants(encoder0, kRecordProbs));
  EXPECT_TRUE(taps.wants(decoder0, kRecordProbs));
  EXPECT_TRUE(taps.wants(cross1, kRecordProbs));
  EXPECT_FALSE(taps.wants(LayerId(Stack::kCross, 0), kRecordProbs));
  taps.inject_probs(cross1, torch::ones({1}));
  EXPECT_EQ(taps.injected_probs(LayerId(Stack::kDecoder, 1)), nullptr);
  EXPECT_NE(taps.injected_probs(cross1), nullptr);
  taps.capture(decoder0).probs = torch::ones({2});
  EXPECT_THROW(taps.at(encoder0), Error);
  EXPECT_EQ(taps.at(decoder0).probs.size(0), 2);
  EXPECT_EQ(to_string(encoder0), "0");
  EXPECT_EQ(to_string(cross1), "cross 1");
  // A plain layer number is the first stack: models without stacks work as before.
  taps.record(kRecordHidden, {3});
  EXPECT_TRUE(taps.wants(LayerId(Stack::kEncoder, 3), kRecordHidden));
}

}  // namespace
}  // namespace attnd
