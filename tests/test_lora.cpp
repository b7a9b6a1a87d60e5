// LoRA adapters on attention projections: zero-init identity, the adapted projection against
// x (W + s·B A)ᵀ + b by hand (bert, vit, GPT-2's fused c_attn), merging, checkpoint round trip
// through config.json's "attnd.lora", freezing, and bad input.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "attnd/models/model_io.h"
#include "attnd/methods/linearize.h"
#include "attnd/models/registry.h"
#include "attnd/models/lora_model.h"
#include "test_utils.h"

namespace {

using namespace attnd;
using attnd::test::error_of;
using attnd::test::expect_close;
using attnd::test::expect_tensors_equal;
using attnd::test::TempDir;
using json = nlohmann::json;

json tiny_bert() {
  return {{"model_type", "bert"}, {"vocab_size", 50}, {"hidden_size", 16},
          {"num_hidden_layers", 2}, {"num_attention_heads", 2}, {"intermediate_size", 24},
          {"max_position_embeddings", 12}, {"type_vocab_size", 2}, {"num_labels", 4},
          {"hidden_dropout_prob", 0.0}, {"attention_probs_dropout_prob", 0.0}};
}

json tiny_gpt2() {
  return {{"model_type", "gpt2"}, {"vocab_size", 40}, {"n_positions", 10}, {"n_embd", 16},
          {"n_layer", 2}, {"n_head", 2}, {"resid_pdrop", 0.0}, {"embd_pdrop", 0.0},
          {"attn_pdrop", 0.0}};
}

json tiny_config(const std::string& type) {
  if (type == "bert") return tiny_bert();
  if (type == "gpt2") return tiny_gpt2();
  return attnd::test::tiny_vit_config(2, 3);
}

ModelInput input_for(const std::string& type, int64_t batch = 3) {
  ModelInput in;
  if (type == "vit") {
    in.pixel_values = torch::randn({batch, 1, 8, 8});
  } else {
    in.input_ids = torch::randint(0, 40, {batch, 7}, torch::kLong);
  }
  return in;
}

Model make(const std::string& type, uint64_t seed = 0) {
  torch::manual_seed(seed);
  auto m = create_model(tiny_config(type));
  m->eval();
  return m;
}

// Sets every adapter's A and B to random values (B is zero after add_lora).
void randomize_adapters(ModelImpl& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.named_parameters())
    if (p.key().find(".lora.") != std::string::npos) p.value().copy_(torch::randn_like(p.value()));
}

std::set<std::string> names_of(ModelImpl& model) {
  std::set<std::string> out;
  for (const auto& kv : model.state()) out.insert(kv.first);
  return out;
}

const std::vector<std::string> kTypes = {"bert", "vit", "gpt2"};

TEST(Lora, FreshAdaptersLeaveTheModelUnchanged) {
  for (const auto& type : kTypes) {
    auto model = make(type);
    auto in = input_for(type);
    auto before = model->forward(in).logits;
    LoraOptions o;
    o.targets = {"q", "k", "v", "o"};
    o.rank = 4;
    const int64_t added = add_lora(*model, o);
    // 2 layers × 4 targets × (A [4, 16] + B [16, 4]).
    EXPECT_EQ(added, 2 * 4 * (4 * 16 + 16 * 4)) << type;
    EXPECT_TRUE(has_lora(*model));
    expect_tensors_equal(model->forward(in).logits, before, type);
    // Base names unchanged, adapters under "<attention>.lora.<target>.{A,B}".
    auto base_names = names_of(*make(type));
    auto names = names_of(*model);
    for (const auto& n : base_names) EXPECT_TRUE(names.count(n)) << n;
    EXPECT_EQ(names.size(), base_names.size() + 16) << type;
  }
  auto bert = make("bert");
  add_lora(*bert, LoraOptions{}, {1});
  EXPECT_TRUE(bert->state().count("bert.encoder.layer.1.attention.lora.q.A"));
  EXPECT_TRUE(bert->state().count("bert.encoder.layer.1.attention.lora.v.B"));
  EXPECT_FALSE(bert->state().count("bert.encoder.layer.1.attention.lora.k.A"));
  EXPECT_FALSE(bert->state().count("bert.encoder.layer.0.attention.lora.q.A"));
  auto gpt2 = make("gpt2");
  add_lora(*gpt2, LoraOptions{});
  EXPECT_TRUE(gpt2->state().count("transformer.h.0.attn.lora.q.A"));
  auto vit = make("vit");
  add_lora(*vit, LoraOptions{});
  EXPECT_TRUE(vit->state().count("vit.encoder.layer.0.attention.lora.v.B"));
  EXPECT_EQ(vit->state().at("vit.encoder.layer.0.attention.lora.v.A").sizes(),
            (std::vector<int64_t>{8, 16}));
}

// x W_effᵀ + b with W_eff = W + (α/r) B A, computed from the tensors alone.
torch::Tensor by_hand(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                      const torch::Tensor& a_mat, const torch::Tensor& b_mat, double scale) {
  auto w_eff = w + scale * torch::matmul(b_mat, a_mat);
  return torch::matmul(x, w_eff.t()) + b;
}

torch::Tensor merge_heads(const torch::Tensor& t) {  // [B, H, N, Dh] → [B, N, D]
  return t.transpose(1, 2).reshape({t.size(0), t.size(2), t.size(1) * t.size(3)});
}

TEST(Lora, AdaptedProjectionsMatchAHandComputation) {
  for (const std::string type : {"bert", "vit"}) {
    auto model = make(type);
    LoraOptions o;
    o.rank = 3;
    o.alpha = 6;  // scale 2
    o.targets = {"q", "o"};
    add_lora(*model, o);
    randomize_adapters(*model);
    auto attn = model->attention(1);
    auto p = attn->named_parameters();
    const std::string qkv = type == "bert" ? "self." : "attention.";
    auto x = torch::randn({2, 5, 16});
    torch::NoGradGuard no_grad;
    auto q = by_hand(x, p[qkv + "query.weight"], p[qkv + "query.bias"], p["lora.q.A"],
                     p["lora.q.B"], 2.0);
    expect_close(merge_heads(attn->queries(x)), q, 1e-5, type + " q");
    // Not a target: k is the plain projection.
    auto k = torch::matmul(x, p[qkv + "key.weight"].t()) + p[qkv + "key.bias"];
    expect_close(merge_heads(attn->keys(x)), k, 1e-5, type + " k");
    auto ctx = torch::randn({2, 2, 5, 8});
    auto o_hand = by_hand(merge_heads(ctx), p["output.dense.weight"], p["output.dense.bias"],
                          p["lora.o.A"], p["lora.o.B"], 2.0);
    expect_close(attn->project_output(ctx), o_hand, 1e-5, type + " o");
  }
}

TEST(Lora, Gpt2QAdapterChangesOnlyTheQueryThirdOfCAttn) {
  auto model = make("gpt2");
  LoraOptions o;
  o.rank = 2;
  o.alpha = 1;  // scale 0.5
  o.targets = {"q", "o"};
  add_lora(*model, o);
  randomize_adapters(*model);
  auto attn = model->attention(0);
  auto p = attn->named_parameters();
  auto w = p["c_attn.weight"], b = p["c_attn.bias"];  // [48, 16], [48]
  auto x = torch::randn({2, 5, 16});
  torch::NoGradGuard no_grad;
  // The fused output x W_cᵀ + b with s·B A added to rows 0..15 (the q third) only.
  auto delta = torch::zeros_like(w);
  delta.narrow(0, 0, 16).copy_(0.5 * torch::matmul(p["lora.q.B"], p["lora.q.A"]));
  auto fused = torch::matmul(x, (w + delta).t()) + b;
  expect_close(merge_heads(attn->queries(x)), fused.narrow(2, 0, 16), 1e-5, "q");
  auto plain = torch::matmul(x, w.t()) + b;
  expect_close(merge_heads(attn->keys(x)), plain.narrow(2, 16, 16), 1e-6, "k unchanged");
  expect_close(merge_heads(attn->values(x)), plain.narrow(2, 32, 16), 1e-6, "v unchanged");
  auto ctx = torch::randn({2, 2, 5, 8});
  auto o_hand = by_hand(merge_heads(ctx), p["c_proj.weight"], p["c_proj.bias"], p["lora.o.A"],
                        p["lora.o.B"], 0.5);
  expect_close(attn->project_output(ctx), o_hand, 1e-5, "o");
}

TEST(Lora, MergeKeepsOutputsAndRestoresThePlainModel) {
  for (const auto& type : kTypes) {
    auto model = make(type);
    const auto base_names = names_of(*model);
    LoraOptions o;
    o.targets = parse_lora_targets("all");
    o.dropout = 0.1;  // off in eval mode
    add_lora(*model, o, {0});
    randomize_adapters(*model);
    auto in = input_for(type);
    torch::NoGradGuard no_grad;
    auto adapted = model->forward(in).logits;
    ASSERT_TRUE(model->config_json()["attnd"].contains("lora"));
    // The expected merged query weights, by hand: layer 0 gets W + s·B A (s = 16 / 8), layer 1
    // keeps W. For GPT-2 the query weight is the first 16 rows of c_attn.
    auto query_weight = [&](int64_t layer) {
      auto p = model->attention(layer)->named_parameters();
      if (type == "gpt2") return p["c_attn.weight"].narrow(0, 0, 16).clone();
      return p[(type == "bert" ? "self." : "attention.") + std::string("query.weight")].clone();
    };
    auto p0 = model->attention(0)->named_parameters();
    auto expected_q0 = query_weight(0) + 2.0 * torch::matmul(p0["lora.q.B"], p0["lora.q.A"]);
    auto expected_q1 = query_weight(1);
    auto base = make(type);
    EXPECT_GT((adapted - base->forward(in).logits).abs().max().item<double>(), 1e-3) << type;
    merge_lora(*model);
    EXPECT_FALSE(has_lora(*model));
    expect_close(model->forward(in).logits, adapted, 1e-5, type);
    EXPECT_EQ(names_of(*model), base_names) << type;
    EXPECT_FALSE(model->config_json()["attnd"].contains("lora")) << type;
    expect_close(query_weight(0), expected_q0, 1e-6, type + " merged q, layer 0");
    expect_tensors_equal(query_weight(1), expected_q1, type + " q, layer 1 (no adapters)");
    // A merged model reloads as a plain model.
    auto again = create_model(model->config_json());
    again->load_state(model->state(), "merged");
    EXPECT_FALSE(has_lora(*again));
  }
}

TEST(Lora, CheckpointRoundTripKeepsTheAdapters) {
  TempDir tmp;
  for (const auto& type : kTypes) {
    auto model = make(type);
    LoraOptions o;
    o.rank = 2;
    o.alpha = 5;
    o.targets = {"k", "o"};
    add_lora(*model, o, {1});
    randomize_adapters(*model);
    auto lora = model->config_json()["attnd"]["lora"];
    EXPECT_EQ(lora["rank"], 2);
    EXPECT_EQ(lora["alpha"], 5.0);
    EXPECT_EQ(lora["targets"], json({"k", "o"}));
    EXPECT_EQ(lora["layers"], json({1}));
    save_model(tmp / type, *model);
    auto loaded = load_model(tmp / type);
    loaded->eval();
    ASSERT_TRUE(has_lora(*loaded)) << type;
    EXPECT_EQ(lora_layers(*loaded), (std::vector<int64_t>{1}));
    EXPECT_EQ(lora_options(*loaded).targets, o.targets);
    EXPECT_EQ(lora_options(*loaded).rank, 2);
    auto in = input_for(type);
    torch::NoGradGuard no_grad;
    expect_tensors_equal(loaded->forward(in).logits, model->forward(in).logits, type);
    EXPECT_EQ(loaded->config_json(), model->config_json()) << type;
  }
}

TEST(Lora, FreezeTrainsOnlyAdaptersAndOptionallyMixers) {
  auto model = make("vit");
  LinearizeSpec spec;  // learned feature maps: the "mixer" parameters
  spec.feature_map = "softmax_split";
  linearize(*model, spec);
  add_lora(*model, LoraOptions{});
  randomize_adapters(*model);  // B = 0 would give A no gradient
  auto is_lora = [](const std::string& n) { return n.find(".lora.") != std::string::npos; };
  auto is_mixer = [](const std::string& n) { return n.find(".mixer.") != std::string::npos; };
  for (bool also_mixers : {false, true}) {
    const int64_t trainable = freeze_all_but_lora(*model, also_mixers);
    int64_t expected = 0, mixer_elements = 0;
    for (auto& p : model->named_parameters()) {
      const bool keep = is_lora(p.key()) || (also_mixers && is_mixer(p.key()));
      EXPECT_EQ(p.value().requires_grad(), keep) << p.key();
      expected += keep ? p.value().numel() : 0;
      mixer_elements += is_mixer(p.key()) ? p.value().numel() : 0;
      p.value().mutable_grad() = torch::Tensor();
    }
    ASSERT_GT(mixer_elements, 0);
    EXPECT_EQ(trainable, expected);
    model->train();
    model->forward(input_for("vit")).logits.pow(2).sum().backward();
    for (auto& p : model->named_parameters()) {
      const bool keep = is_lora(p.key()) || (also_mixers && is_mixer(p.key()));
      EXPECT_EQ(p.value().grad().defined(), keep) << p.key();
      if (keep && is_lora(p.key())) {
        EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key();
      }
    }
  }
}

TEST(Lora, BadInputIsNamed) {
  auto unknown = error_of([] { parse_lora_targets("q,x"); });
  EXPECT_NE(unknown.find("'x'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("q, k, v, o"), std::string::npos) << unknown;
  EXPECT_EQ(parse_lora_targets(" V, q,q "), (std::vector<std::string>{"q", "v"}));
  EXPECT_EQ(parse_lora_targets("all"), (std::vector<std::string>{"q", "k", "v", "o"}));
  EXPECT_NE(error_of([] { parse_lora_targets(""); }).find("no LoRA targets"), std::string::npos);

  auto model = make("bert");
  LoraOptions o;
  o.rank = 0;
  EXPECT_NE(error_of([&] { add_lora(*model, o); }).find("rank must be at least 1"),
            std::string::npos);
  o.rank = 4;
  o.alpha = 0;
  EXPECT_NE(error_of([&] { add_lora(*model, o); }).find("alpha must be positive"),
            std::string::npos);
  o.alpha = 8;
  o.targets = {"q", "x"};
  EXPECT_NE(error_of([&] { add_lora(*model, o); }).find("'x'"), std::string::npos);
  o.targets = {"q"};
  EXPECT_NE(error_of([&] { add_lora(*model, o, {5}); }).find("layer 5"), std::string::npos);
  EXPECT_FALSE(has_lora(*model));
  add_lora(*model, o);
  EXPECT_NE(error_of([&] { add_lora(*model, o); }).find("already has LoRA"), std::string::npos);

  // JSON options: defaults, string targets, unknown keys.
  auto parsed = lora_options_from_json(json{{"rank", 4}, {"targets", "q,k,v,o"}});
  EXPECT_EQ(parsed.rank, 4);
  EXPECT_EQ(parsed.alpha, 16);
  EXPECT_EQ(parsed.targets.size(), 4u);
  EXPECT_EQ(lora_options_from_json(to_json(parsed)).targets, parsed.targets);
  EXPECT_NE(error_of([] { lora_options_from_json(json{{"rnak", 4}}); }).find("'rnak'"),
            std::string::npos);
  auto config = model->config_json();
  config["attnd"]["lora"]["layers"] = json({0, 9});
  auto bad_layer = error_of([&] { create_model(config); });
  EXPECT_NE(bad_layer.find("attnd.lora"), std::string::npos) << bad_layer;
  EXPECT_NE(bad_layer.find("layer 9"), std::string::npos) << bad_layer;
}

}  // namespace
