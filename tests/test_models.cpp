// The three transformer models: HF parameter names, shapes, config round trips, taps through whole
// models, masks, the tied GPT-2 head, HF file mapping, config errors, init and a tiny training run.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "attnd/core/error.h"
#include "attnd/models/bert.h"
#include "attnd/models/gpt2.h"
#include "attnd/models/init.h"
#include "attnd/models/registry.h"
#include "attnd/models/vit.h"

namespace attnd {
namespace {

using json = nlohmann::json;

json tiny_vit(int64_t layers = 2) {
  return {{"model_type", "vit"}, {"hidden_size", 16}, {"num_hidden_layers", layers},
          {"num_attention_heads", 2}, {"intermediate_size", 24}, {"image_size", 8},
          {"patch_size", 4}, {"num_channels", 3}, {"num_labels", 3}};
}

json tiny_bert(int64_t layers = 2) {
  return {{"model_type", "bert"}, {"vocab_size", 50}, {"hidden_size", 16},
          {"num_hidden_layers", layers}, {"num_attention_heads", 2}, {"intermediate_size", 24},
          {"max_position_embeddings", 12}, {"type_vocab_size", 2}, {"num_labels", 4},
          {"hidden_dropout_prob", 0.0}, {"attention_probs_dropout_prob", 0.0}};
}

json tiny_gpt2(int64_t layers = 2) {
  return {{"model_type", "gpt2"}, {"vocab_size", 40}, {"n_positions", 10}, {"n_embd", 16},
          {"n_layer", layers}, {"n_head", 2}, {"resid_pdrop", 0.0}, {"embd_pdrop", 0.0},
          {"attn_pdrop", 0.0}};
}

ModelInput vit_input(int64_t batch = 2) {
  ModelInput in;
  in.pixel_values = torch::randn({batch, 3, 8, 8});
  return in;
}

ModelInput token_input(int64_t batch, int64_t n, int64_t vocab) {
  ModelInput in;
  in.input_ids = torch::randint(0, vocab, {batch, n}, torch::kLong);
  return in;
}

std::vector<std::string> names_of(const Model& m) {
  std::vector<std::string> out;
  for (const auto& item : m->named_parameters()) out.push_back(item.key());
  return out;
}

void expect_close(const torch::Tensor& a, const torch::Tensor& b, double tol, const std::string& what = "") {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double diff = (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
  EXPECT_LE(diff, tol) << what;
}

void expect_maps_equal(const TensorMap& a, const TensorMap& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& kv : a) {
    auto it = b.find(kv.first);
    ASSERT_NE(it, b.end()) << kv.first;
    ASSERT_EQ(kv.second.sizes(), it->second.sizes()) << kv.first;
    EXPECT_TRUE(torch::equal(kv.second, it->second)) << kv.first;
  }
}

// Larger random weights than HF's init (std 0.02), so that what should matter does visibly.
void randomize(const Model& m, double std = 0.3) {
  torch::NoGradGuard no_grad;
  for (auto& p : m->parameters()) p.copy_(torch::randn_like(p) * std);
}

template <typename F>
std::string input_error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("WRONG EXCEPTION TYPE: ") + e.what();
  }
  return "NO EXCEPTION";
}

// ---- names -------------------------------------------------------------------------------------

TEST(ModelNames, VitEqualsHuggingFace) {
  auto m = create_model(tiny_vit(1));
  EXPECT_EQ(names_of(m), (std::vector<std::string>{
                             "vit.embeddings.cls_token",
                             "vit.embeddings.position_embeddings",
                             "vit.embeddings.patch_embeddings.projection.weight",
                             "vit.embeddings.patch_embeddings.projection.bias",
                             "vit.encoder.layer.0.attention.attention.query.weight",
                             "vit.encoder.layer.0.attention.attention.query.bias",
                             "vit.encoder.layer.0.attention.attention.key.weight",
                             "vit.encoder.layer.0.attention.attention.key.bias",
                             "vit.encoder.layer.0.attention.attention.value.weight",
                             "vit.encoder.layer.0.attention.attention.value.bias",
                             "vit.encoder.layer.0.attention.output.dense.weight",
                             "vit.encoder.layer.0.attention.output.dense.bias",
                             "vit.encoder.layer.0.intermediate.dense.weight",
                             "vit.encoder.layer.0.intermediate.dense.bias",
                             "vit.encoder.layer.0.output.dense.weight",
                             "vit.encoder.layer.0.output.dense.bias",
                             "vit.encoder.layer.0.layernorm_before.weight",
                             "vit.encoder.layer.0.layernorm_before.bias",
                             "vit.encoder.layer.0.layernorm_after.weight",
                             "vit.encoder.layer.0.layernorm_after.bias",
                             "vit.layernorm.weight",
                             "vit.layernorm.bias",
                             "classifier.weight",
                             "classifier.bias",
                         }));
  auto s = m->state();
  EXPECT_EQ(s.at("vit.embeddings.position_embeddings").sizes(), (std::vector<int64_t>{1, 5, 16}));
  EXPECT_EQ(s.at("vit.embeddings.patch_embeddings.projection.weight").sizes(),
            (std::vector<int64_t>{16, 3, 4, 4}));
  EXPECT_EQ(s.at("vit.encoder.layer.0.intermediate.dense.weight").sizes(),
            (std::vector<int64_t>{24, 16}));
  EXPECT_EQ(s.at("classifier.weight").sizes(), (std::vector<int64_t>{3, 16}));
}

TEST(ModelNames, BertEqualsHuggingFace) {
  auto m = create_model(tiny_bert(1));
  EXPECT_EQ(names_of(m), (std::vector<std::string>{
                             "bert.embeddings.word_embeddings.weight",
                             "bert.embeddings.position_embeddings.weight",
                             "bert.embeddings.token_type_embeddings.weight",
                             "bert.embeddings.LayerNorm.weight",
                             "bert.embeddings.LayerNorm.bias",
                             "bert.encoder.layer.0.attention.self.query.weight",
                             "bert.encoder.layer.0.attention.self.query.bias",
                             "bert.encoder.layer.0.attention.self.key.weight",
                             "bert.encoder.layer.0.attention.self.key.bias",
                             "bert.encoder.layer.0.attention.self.value.weight",
                             "bert.encoder.layer.0.attention.self.value.bias",
                             "bert.encoder.layer.0.attention.output.dense.weight",
                             "bert.encoder.layer.0.attention.output.dense.bias",
                             "bert.encoder.layer.0.attention.output.LayerNorm.weight",
                             "bert.encoder.layer.0.attention.output.LayerNorm.bias",
                             "bert.encoder.layer.0.intermediate.dense.weight",
                             "bert.encoder.layer.0.intermediate.dense.bias",
                             "bert.encoder.layer.0.output.dense.weight",
                             "bert.encoder.layer.0.output.dense.bias",
                             "bert.encoder.layer.0.output.LayerNorm.weight",
                             "bert.encoder.layer.0.output.LayerNorm.bias",
                             "bert.pooler.dense.weight",
                             "bert.pooler.dense.bias",
                             "classifier.weight",
                             "classifier.bias",
                         }));
  auto s = m->state();
  EXPECT_EQ(s.at("bert.embeddings.word_embeddings.weight").sizes(), (std::vector<int64_t>{50, 16}));
  EXPECT_EQ(s.at("bert.embeddings.position_embeddings.weight").sizes(),
            (std::vector<int64_t>{12, 16}));
  EXPECT_EQ(s.at("classifier.weight").sizes(), (std::vector<int64_t>{4, 16}));
}

TEST(ModelNames, Gpt2EqualsHuggingFace) {
  auto m = create_model(tiny_gpt2(1));
  EXPECT_EQ(names_of(m), (std::vector<std::string>{
                             "transformer.wte.weight",
                             "transformer.wpe.weight",
                             "transformer.h.0.ln_1.weight",
                             "transformer.h.0.ln_1.bias",
                             "transformer.h.0.attn.c_attn.weight",
                             "transformer.h.0.attn.c_attn.bias",
                             "transformer.h.0.attn.c_proj.weight",
                             "transformer.h.0.attn.c_proj.bias",
                             "transformer.h.0.ln_2.weight",
                             "transformer.h.0.ln_2.bias",
                             "transformer.h.0.mlp.c_fc.weight",
                             "transformer.h.0.mlp.c_fc.bias",
                             "transformer.h.0.mlp.c_proj.weight",
                             "transformer.h.0.mlp.c_proj.bias",
                             "transformer.ln_f.weight",
                             "transformer.ln_f.bias",
                         }));
  auto s = m->state();
  EXPECT_EQ(s.at("transformer.h.0.attn.c_attn.weight").sizes(), (std::vector<int64_t>{48, 16}));
  EXPECT_EQ(s.at("transformer.h.0.mlp.c_fc.weight").sizes(), (std::vector<int64_t>{64, 16}));
}

TEST(ModelNames, SecondLayerIsNumberedAndAttentionIsReachable) {
  auto m = create_model(tiny_bert(2));
  auto params = m->named_parameters();
  ASSERT_NE(params.find("bert.encoder.layer.1.attention.self.value.bias"), nullptr);
  // attention(L) is the module registered in layer L.
  EXPECT_TRUE(m->attention(1)->named_parameters()["self.value.bias"].is_same(
      *params.find("bert.encoder.layer.1.attention.self.value.bias")));
  EXPECT_EQ(m->num_layers(), 2);
  EXPECT_EQ(m->num_heads(), 2);
  EXPECT_THROW(m->attention(2), InputError);
}

// ---- shapes, round trips ---------------------------------------------------------------------------

TEST(Models, OutputShapes) {
  torch::manual_seed(0);
  auto vit = create_model(tiny_vit());
  EXPECT_EQ(vit->forward(vit_input(2)).logits.sizes(), (std::vector<int64_t>{2, 3}));
  auto bert = create_model(tiny_bert());
  EXPECT_EQ(bert->forward(token_input(3, 7, 50)).logits.sizes(), (std::vector<int64_t>{3, 4}));
  auto gpt2 = create_model(tiny_gpt2());
  EXPECT_EQ(gpt2->forward(token_input(2, 6, 40)).logits.sizes(), (std::vector<int64_t>{2, 6, 40}));
  // Hidden states of every block.
  Taps taps;
  taps.record(kRecordHidden);
  vit->forward(vit_input(2), &taps);
  ASSERT_EQ(taps.captures().size(), 2u);
  EXPECT_EQ(taps.at(1).hidden.sizes(), (std::vector<int64_t>{2, 5, 16}));
}

TEST(Models, ConfigJsonRoundTripGivesAnIdenticalModel) {
  for (const json& cfg : {tiny_vit(), tiny_bert(), tiny_gpt2()}) {
    torch::manual_seed(1);
    auto a = create_model(cfg);
    auto config = a->config_json();
    auto b = create_model(config);
    EXPECT_EQ(b->config_json(), config) << config.dump();
    EXPECT_EQ(names_of(a), names_of(b));
    b->load_state(a->state(), "test");
    a->eval();
    b->eval();
    torch::manual_seed(2);
    ModelInput in = a->model_type() == "vit" ? vit_input(2) : token_input(2, 5, 40);
    EXPECT_TRUE(torch::equal(a->forward(in).logits, b->forward(in).logits)) << a->model_type();
  }
}

TEST(Models, ConfigJsonCarriesHuggingFaceKeysAndDefaults) {
  auto vit = create_model(json{{"model_type", "vit"}, {"num_hidden_layers", 1}, {"hidden_size", 24},
                               {"num_attention_heads", 2}, {"intermediate_size", 8},
                               {"image_size", 32}});
  auto c = vit->config_json();
  EXPECT_EQ(c["architectures"], json({"ViTForImageClassification"}));
  EXPECT_EQ(c["patch_size"], 16);
  EXPECT_EQ(c["num_channels"], 3);
  EXPECT_EQ(c["hidden_act"], "gelu");
  EXPECT_EQ(c["layer_norm_eps"], 1e-12);
  EXPECT_EQ(c["qkv_bias"], true);
  EXPECT_EQ(c["num_labels"], 2);
  EXPECT_EQ(c["id2label"], json({{"0", "LABEL_0"}, {"1", "LABEL_1"}}));
  EXPECT_EQ(c["label2id"], json({{"LABEL_0", 0}, {"LABEL_1", 1}}));
  EXPECT_EQ(c["attnd"]["pooling"], "cls");

  auto gpt = create_model(json{{"model_type", "gpt2"}, {"n_layer", 1}, {"n_embd", 8}, {"n_head", 2},
                               {"vocab_size", 11}, {"n_positions", 4}});
  auto g = gpt->config_json();
  EXPECT_EQ(g["n_inner"], nullptr);
  EXPECT_EQ(g["activation_function"], "gelu_new");
  EXPECT_EQ(g["layer_norm_epsilon"], 1e-5);
  EXPECT_EQ(g["resid_pdrop"], 0.1);
  EXPECT_EQ(gpt->state().at("transformer.h.0.mlp.c_fc.weight").size(0), 32);  // 4 * n_embd

  auto bert = create_model(json{{"model_type", "bert"}, {"num_hidden_layers", 1}, {"hidden_size", 8},
                                {"num_attention_heads", 2}, {"intermediate_size", 8},
                                {"id2label", {{"0", "ham"}, {"1", "spam"}, {"2", "eggs"}}}});
  auto b = bert->config_json();
  EXPECT_EQ(b["num_labels"], 3);
  EXPECT_EQ(b["label2id"]["spam"], 1);
  EXPECT_EQ(b["vocab_size"], 30522);
  EXPECT_EQ(b["max_position_embeddings"], 512);
  EXPECT_EQ(b["hidden_dropout_prob"], 0.1);
  EXPECT_EQ(bert->state().at("classifier.weight").size(0), 3);
}

TEST(Models, UnknownConfigKeysAreIgnoredButListedKeysAreKnown) {
  json cfg = tiny_vit();
  cfg["output_attentions"] = false;  // one of the many keys HF files carry
  EXPECT_NO_THROW(create_model(cfg));
  auto keys = model_config_keys("vit");
  for (const char* k : {"hidden_size", "patch_size", "qkv_bias", "num_labels", "attnd", "id2label"})
    EXPECT_NE(std::find(keys.begin(), keys.end(), k), keys.end()) << k;
  auto gkeys = model_config_keys("gpt2");
  EXPECT_NE(std::find(gkeys.begin(), gkeys.end(), "n_embd"), gkeys.end());
  EXPECT_EQ(std::find(gkeys.begin(), gkeys.end(), "patch_size"), gkeys.end());
  EXPECT_EQ(registered_model_types(),
            (std::vector<std::string>{"bert", "detr", "gpt2", "vit", "vit_mae"}));
  EXPECT_THROW(model_config_keys("t5"), InputError);
}

// ---- taps through whole models -----------------------------------------------------------------------

TEST(Models, InjectingRecordedProbsAtEveryLayerReproducesLogits) {
  for (const json& cfg : {tiny_vit(3), tiny_bert(3), tiny_gpt2(3)}) {
    torch::manual_seed(3);
    auto m = create_model(cfg);
    m->eval();
    ModelInput in = m->model_type() == "vit" ? vit_input(2) : token_input(2, 6, 40);
    if (m->model_type() == "bert") in.attention_mask = torch::tensor({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}).view({2, 6});
    Taps rec;
    rec.record(kRecordProbs | kRecordLogits);
    auto logits = m->forward(in, &rec).logits;
    ASSERT_EQ(static_cast<int64_t>(rec.captures().size()), m->num_layers());

    Taps inject;
    for (int64_t l = 0; l < m->num_layers(); ++l) inject.inject_probs(l, rec.at(l).probs);
    EXPECT_TRUE(torch::equal(m->forward(in, &inject).logits, logits)) << m->model_type();
    Taps inject_logits;
    for (int64_t l = 0; l < m->num_layers(); ++l) inject_logits.inject_logits(l, rec.at(l).logits);
    EXPECT_TRUE(torch::equal(m->forward(in, &inject_logits).logits, logits)) << m->model_type();

    // Another layer's attention at layer 1 changes the result: the injection is really used.
    Taps swapped;
    swapped.inject_probs(1, rec.at(0).probs);
    EXPECT_FALSE(torch::allclose(m->forward(in, &swapped).logits, logits)) << m->model_type();
  }
}

// ---- BERT ----------------------------------------------------------------------------------------

TEST(Bert, PaddingEqualsTheUnpaddedSequence) {
  torch::manual_seed(4);
  auto m = create_model(tiny_bert());
  randomize(m);
  m->eval();
  ModelInput padded;
  padded.input_ids = torch::tensor({5, 9, 3, 17, 0, 0, 8, 2, 2, 30, 11, 4}, torch::kLong).view({2, 6});
  padded.attention_mask = torch::tensor({1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1}, torch::kLong).view({2, 6});
  padded.token_type_ids = torch::tensor({0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1}, torch::kLong).view({2, 6});
  auto logits = m->forward(padded).logits;

  ModelInput alone;
  alone.input_ids = padded.input_ids[0].narrow(0, 0, 4).unsqueeze(0);
  alone.token_type_ids = padded.token_type_ids[0].narrow(0, 0, 4).unsqueeze(0);
  expect_close(logits[0], m->forward(alone).logits[0], 1e-5, "padded row");
  ModelInput second;
  second.input_ids = padded.input_ids[1].unsqueeze(0);
  second.token_type_ids = padded.token_type_ids[1].unsqueeze(0);
  expect_close(logits[1], m->forward(second).logits[0], 1e-5, "unpadded row");
  // The real tokens' hidden states too.
  auto bert = std::dynamic_pointer_cast<BertModelImpl>(m);
  ASSERT_TRUE(bert);
  auto hidden = bert->encode(padded);
  expect_close(hidden[0].narrow(0, 0, 4), bert->encode(alone)[0], 1e-4, "hidden states");
  // Without the mask the padding does change them (the checks above can fail).
  ModelInput unmasked = padded;
  unmasked.attention_mask = torch::Tensor();
  EXPECT_GT((bert->encode(unmasked)[0] - hidden[0]).narrow(0, 0, 4).abs().max().item<double>(), 1e-2);
  EXPECT_GT((m->forward(unmasked).logits[0] - logits[0]).abs().max().item<double>(), 1e-4);
}

TEST(Bert, RejectsBadInputs) {
  auto m = create_model(tiny_bert());
  ModelInput in = token_input(1, 13, 50);  // > max_position_embeddings = 12
  EXPECT_THROW(m->forward(in).logits, InputError);
  in = token_input(1, 5, 50);
  in.input_ids[0][2] = 50;
  EXPECT_NE(input_error_of([&] { m->forward(in); }).find("input_ids"), std::string::npos);
  in = token_input(1, 5, 50);
  in.attention_mask = torch::ones({1, 4}, torch::kLong);
  EXPECT_THROW(m->forward(in).logits, InputError);
  EXPECT_THROW(m->forward(vit_input(1)).logits, InputError);  // no input_ids
}

TEST(Bert, WordEmbeddingPaddingRowStartsAtZero) {
  torch::manual_seed(5);
  auto m = create_model(tiny_bert());
  auto w = m->state().at("bert.embeddings.word_embeddings.weight");
  EXPECT_EQ(w[0].abs().max().item<double>(), 0.0);  // pad_token_id 0, as HF's init
  EXPECT_GT(w[1].abs().max().item<double>(), 0.0);
}

// ---- GPT-2 ---------------------------------------------------------------------------------------

TEST(Gpt2, CausalFutureTokensDoNotChangeEarlierLogits) {
  torch::manual_seed(6);
  auto m = create_model(tiny_gpt2());
  m->eval();
  ModelInput a = token_input(1, 7, 40);
  ModelInput b = a;
  b.input_ids = a.input_ids.clone();
  b.input_ids[0][5] = (a.input_ids[0][5].item<int64_t>() + 1) % 40;
  auto la = m->forward(a).logits, lb = m->forward(b).logits;
  expect_close(la.narrow(1, 0, 5), lb.narrow(1, 0, 5), 1e-6, "prefix");
  EXPECT_GT((la.narrow(1, 5, 2) - lb.narrow(1, 5, 2)).abs().max().item<double>(), 1e-4);
  // Running on the prefix alone gives the same logits.
  ModelInput prefix;
  prefix.input_ids = a.input_ids.narrow(1, 0, 5);
  expect_close(m->forward(prefix).logits, la.narrow(1, 0, 5), 1e-5, "prefix alone");
}

TEST(Gpt2, PaddingMaskHidesPaddedKeys) {
  torch::manual_seed(7);
  auto m = create_model(tiny_gpt2());
  m->eval();
  // Left padding (right padding is hidden by causality anyway). Positions stay 0..N-1 whatever the
  // mask (as in HF), so compare attention probabilities rather than logits of a shorter input.
  ModelInput in = token_input(1, 5, 40);
  in.attention_mask = torch::tensor({0, 0, 1, 1, 1}, torch::kLong).view({1, 5});
  Taps taps;
  taps.record(kRecordProbs);
  m->forward(in, &taps);
  auto p = taps.at(0).probs;  // [1, H, 5, 5]
  EXPECT_EQ(p.narrow(2, 2, 3).narrow(3, 0, 2).abs().max().item<double>(), 0.0);
  EXPECT_GT(p.narrow(2, 2, 3).narrow(3, 2, 1).min().item<double>(), 0.0);
}

TEST(Gpt2, LmHeadIsTiedToWte) {
  torch::manual_seed(8);
  auto m = create_model(tiny_gpt2());
  m->eval();
  ModelInput in = token_input(2, 4, 40);
  Taps taps;
  taps.record(kRecordHidden, {1});
  auto logits = m->forward(in, &taps).logits;
  auto h = taps.at(1).hidden.to(torch::kDouble);  // last block's output [2, 4, 16]
  auto s = m->state();
  auto g = s.at("transformer.ln_f.weight").to(torch::kDouble);
  auto b = s.at("transformer.ln_f.bias").to(torch::kDouble);
  auto wte = s.at("transformer.wte.weight").to(torch::kDouble);
  // ln_f by hand (biased variance, eps 1e-5), then every token embedding's dot product.
  auto mean = h.mean(-1, true);
  auto var = (h - mean).pow(2).mean(-1, true);
  auto normed = (h - mean) / (var + 1e-5).sqrt() * g + b;
  auto expected = torch::zeros({2, 4, 40}, torch::kDouble);
  for (int64_t t = 0; t < 40; ++t) expected.select(2, t).copy_((normed * wte[t]).sum(-1));
  expect_close(logits, expected, 1e-5, "tied head");
  // Changing wte changes the output layer too (same tensor).
  {
    torch::NoGradGuard no_grad;
    m->state().at("transformer.wte.weight")[3].mul_(2.0);
  }
  EXPECT_FALSE(torch::allclose(m->forward(in).logits.select(2, 3), logits.select(2, 3)));
}

TEST(Gpt2, InitScalesResidualProjections) {
  torch::manual_seed(9);
  auto m = create_model(json{{"model_type", "gpt2"}, {"vocab_size", 64}, {"n_positions", 8},
                             {"n_embd", 64}, {"n_layer", 8}, {"n_head", 4}});
  auto s = m->state();
  const double c_attn_std = s.at("transformer.h.0.attn.c_attn.weight").std().item<double>();
  const double c_proj_std = s.at("transformer.h.3.attn.c_proj.weight").std().item<double>();
  const double mlp_proj_std = s.at("transformer.h.5.mlp.c_proj.weight").std().item<double>();
  EXPECT_NEAR(c_attn_std, 0.02, 0.001);
  EXPECT_NEAR(c_proj_std, 0.02 / 4.0, 0.0003);  // 1 / sqrt(2 * 8) = 1/4
  EXPECT_NEAR(mlp_proj_std, 0.02 / 4.0, 0.0003);
  EXPECT_EQ(s.at("transformer.h.2.attn.c_attn.bias").abs().max().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(s.at("transformer.h.1.ln_2.weight"), torch::ones({64})));
  EXPECT_NEAR(s.at("transformer.wte.weight").std().item<double>(), 0.02, 0.001);
}

// ---- HF files ------------------------------------------------------------------------------------

TEST(HfFiles, ImportOfExportIsTheIdentity) {
  for (const json& cfg : {tiny_vit(), tiny_bert(), tiny_gpt2()}) {
    auto m = create_model(cfg);
    auto state = m->state();
    expect_maps_equal(m->import_hf(m->export_hf(state)), state);
  }
}

TEST(HfFiles, Gpt2HubFileImports) {
  torch::manual_seed(10);
  auto m = create_model(tiny_gpt2());
  m->eval();
  auto state = m->state();
  // What HF's "gpt2" repository holds: no "transformer." prefix, Conv1D weights [in, out], the
  // causal-mask buffers, and (in older files) the tied lm_head.
  TensorMap file;
  for (const auto& kv : state) {
    std::string name = kv.first.substr(std::string("transformer.").size());
    auto t = kv.second.detach().clone();
    const bool conv1d = name.find("c_attn.weight") != std::string::npos ||
                        name.find("c_proj.weight") != std::string::npos ||
                        name.find("c_fc.weight") != std::string::npos;
    file[name] = conv1d ? t.t().contiguous() : t;
  }
  for (int l = 0; l < 2; ++l) {
    file["h." + std::to_string(l) + ".attn.bias"] = torch::ones({1, 1, 10, 10}).tril();
    file["h." + std::to_string(l) + ".attn.masked_bias"] = torch::tensor(-1e4);
  }
  file["lm_head.weight"] = state.at("transformer.wte.weight").detach().clone();
  EXPECT_EQ(file.at("h.0.attn.c_attn.weight").sizes(), (std::vector<int64_t>{16, 48}));

  auto imported = m->import_hf(file);
  ASSERT_EQ(imported.size(), state.size());
  for (const auto& kv : state) {
    ASSERT_TRUE(imported.count(kv.first)) << kv.first;
    EXPECT_EQ(imported.at(kv.first).sizes(), kv.second.sizes()) << kv.first;
  }
  auto fresh = create_model(tiny_gpt2());
  fresh->eval();
  fresh->load_state(imported, "gpt2 hub file");
  ModelInput in = token_input(1, 5, 40);
  EXPECT_TRUE(torch::equal(fresh->forward(in).logits, m->forward(in).logits));

  // An untied head cannot be represented.
  file["lm_head.weight"] = file["lm_head.weight"] + 1.0;
  EXPECT_NE(input_error_of([&] { m->import_hf(file); }).find("lm_head.weight"), std::string::npos);
  // An lm_head without wte becomes wte.
  auto no_wte = file;
  no_wte.erase("wte.weight");
  EXPECT_TRUE(torch::equal(m->import_hf(no_wte).at("transformer.wte.weight"), file["lm_head.weight"]));
}

TEST(HfFiles, BertOldNamesBuffersAndPretrainingHeads) {
  auto m = create_model(tiny_bert(1));
  auto state = m->state();
  TensorMap file;  // a BertModel base file in the old naming, plus buffers and BertForPreTraining heads
  for (const auto& kv : state) {
    std::string name = kv.first;
    if (name.rfind("classifier.", 0) == 0) continue;
    name = name.substr(5);  // "bert."
    const auto pos = name.find("LayerNorm.");
    if (pos != std::string::npos) name = name.substr(0, pos) + (name.back() == 't' ? "LayerNorm.gamma" : "LayerNorm.beta");
    file[name] = kv.second.detach().clone();
  }
  file["embeddings.position_ids"] = torch::arange(12).unsqueeze(0);
  file["cls.predictions.bias"] = torch::zeros({50});
  auto imported = m->import_hf(file);
  // Everything but the classifier maps onto the model; load_state names the missing head.
  for (const auto& kv : state) {
    if (kv.first.rfind("classifier.", 0) == 0) {
      EXPECT_FALSE(imported.count(kv.first));
    } else {
      ASSERT_TRUE(imported.count(kv.first)) << kv.first;
      EXPECT_TRUE(torch::equal(imported.at(kv.first), kv.second)) << kv.first;
    }
  }
  EXPECT_EQ(imported.size(), state.size() - 2);
  const auto msg = input_error_of([&] { m->load_state(imported, "base.safetensors"); });
  EXPECT_NE(msg.find("classifier."), std::string::npos) << msg;
  EXPECT_NE(msg.find("base.safetensors"), std::string::npos) << msg;
}

TEST(HfFiles, VitBaseModelFileWithPooler) {
  auto m = create_model(tiny_vit(1));
  TensorMap file;
  for (const auto& kv : m->state())
    if (kv.first.rfind("vit.", 0) == 0) file[kv.first.substr(4)] = kv.second;
  file["pooler.dense.weight"] = torch::zeros({16, 16});
  file["pooler.dense.bias"] = torch::zeros({16});
  auto imported = m->import_hf(file);
  EXPECT_TRUE(imported.count("vit.encoder.layer.0.attention.attention.query.weight"));
  EXPECT_FALSE(imported.count("vit.pooler.dense.weight"));
  EXPECT_NE(input_error_of([&] { m->load_state(imported, "in21k"); }).find("classifier"),
            std::string::npos);
}

// ---- config errors ---------------------------------------------------------------------------------

TEST(ConfigErrors, UnknownActivationNamesTheKey) {
  json cfg = tiny_vit();
  cfg["hidden_act"] = "gelu_quick_typo";
  auto msg = input_error_of([&] { create_model(cfg); });
  EXPECT_NE(msg.find("hidden_act"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gelu_quick_typo"), std::string::npos) << msg;
  json g = tiny_gpt2();
  g["activation_function"] = "mish";
  msg = input_error_of([&] { create_model(g); });
  EXPECT_NE(msg.find("activation_function"), std::string::npos) << msg;
}

TEST(ConfigErrors, WrongTypeNamesTheKeyAndTheType) {
  json cfg = tiny_bert();
  cfg["hidden_size"] = "16";
  auto msg = input_error_of([&] { create_model(cfg); });
  EXPECT_NE(msg.find("'hidden_size'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("integer"), std::string::npos) << msg;
  cfg = tiny_vit();
  cfg["qkv_bias"] = 1;
  msg = input_error_of([&] { create_model(cfg); });
  EXPECT_NE(msg.find("'qkv_bias'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("boolean"), std::string::npos) << msg;
  cfg = tiny_gpt2();
  cfg["layer_norm_epsilon"] = "small";
  msg = input_error_of([&] { create_model(cfg); });
  EXPECT_NE(msg.find("'layer_norm_epsilon'"), std::string::npos) << msg;
  cfg = tiny_vit();
  cfg["attnd"] = {{"pooling", "max"}};
  msg = input_error_of([&] { create_model(cfg); });
  EXPECT_NE(msg.find("attnd.pooling"), std::string::npos) << msg;
}

TEST(ConfigErrors, ModelTypeAndSizes) {
  EXPECT_NE(input_error_of([] { create_model(json{{"hidden_size", 4}}); }).find("model_type"),
            std::string::npos);
  EXPECT_NE(input_error_of([] { create_model(json{{"model_type", "t5"}}); }).find("t5"),
            std::string::npos);
  json cfg = tiny_vit();
  cfg["num_attention_heads"] = 3;  // 16 % 3 != 0
  EXPECT_THROW(create_model(cfg), InputError);
  cfg = tiny_bert();
  cfg["num_hidden_layers"] = 0;
  EXPECT_NE(input_error_of([&] { create_model(cfg); }).find("num_hidden_layers"), std::string::npos);
  cfg = tiny_bert();
  cfg["hidden_dropout_prob"] = 1.5;
  EXPECT_NE(input_error_of([&] { create_model(cfg); }).find("hidden_dropout_prob"), std::string::npos);
  EXPECT_THROW(create_model(json::array()), InputError);
}

// ---- ViT specifics ---------------------------------------------------------------------------------

TEST(Vit, PoolingClsAndMeanByHand) {
  for (const char* pooling : {"cls", "mean"}) {
    torch::manual_seed(11);
    json cfg = tiny_vit();
    cfg["attnd"] = {{"pooling", pooling}};
    auto m = std::dynamic_pointer_cast<VitModelImpl>(create_model(cfg));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->config().pooling, pooling);
    m->eval();
    auto in = vit_input(2);
    Taps taps;
    taps.record(kRecordHidden, {1});
    auto logits = m->forward(in, &taps).logits;
    auto h = taps.at(1).hidden;  // [2, 5, 16], pre-layernorm
    auto pooled = std::string(pooling) == "cls" ? h.select(1, 0) : h.narrow(1, 1, 4).mean(1);
    auto ln = torch::layer_norm(pooled, {16}, m->vit->layernorm->weight, m->vit->layernorm->bias, 1e-12);
    auto expected = torch::matmul(ln, m->classifier->weight.t()) + m->classifier->bias;
    expect_close(logits, expected, 1e-5, pooling);
    expect_close(m->encode(in).select(1, 0), torch::layer_norm(h.select(1, 0), {16},
                 m->vit->layernorm->weight, m->vit->layernorm->bias, 1e-12), 1e-6, "encode");
  }
}

TEST(Vit, InitIsTruncatedNormal) {
  torch::manual_seed(12);
  auto m = create_model(json{{"model_type", "vit"}, {"hidden_size", 64}, {"num_hidden_layers", 1},
                             {"num_attention_heads", 4}, {"intermediate_size", 128},
                             {"image_size", 32}, {"patch_size", 4}});
  auto s = m->state();
  EXPECT_NEAR(s.at("vit.embeddings.position_embeddings").std().item<double>(), 0.02, 0.001);
  EXPECT_NEAR(s.at("vit.encoder.layer.0.intermediate.dense.weight").std().item<double>(), 0.02, 0.001);
  EXPECT_EQ(s.at("vit.embeddings.patch_embeddings.projection.bias").abs().max().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(s.at("vit.layernorm.weight"), torch::ones({64})));
}

TEST(Init, TruncNormalStaysInBoundsWithTheTruncatedStd) {
  torch::manual_seed(13);
  auto t = torch::empty({200000});
  trunc_normal_(t, 0.0, 1.0, -1.0, 1.0);
  EXPECT_GE(t.min().item<double>(), -1.0);
  EXPECT_LE(t.max().item<double>(), 1.0);
  // Variance of N(0,1) truncated to [-1, 1]: 1 - 2 φ(1) / (2 Φ(1) - 1) = 0.29112.
  EXPECT_NEAR(t.var().item<double>(), 0.29112, 0.004);
  EXPECT_NEAR(t.mean().item<double>(), 0.0, 0.005);
}

TEST(Vit, TinyModelTrains) {
  torch::manual_seed(14);
  auto m = create_model(tiny_vit());
  m->train();
  auto in = vit_input(16);
  auto labels = torch::randint(0, 3, {16}, torch::kLong);
  torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(3e-3));
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(m->forward(in).logits, labels);
    loss.backward();
    opt.step();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
  }
  EXPECT_LT(last, 0.5 * first) << "first " << first << " last " << last;
}

}  // namespace
}  // namespace attnd
