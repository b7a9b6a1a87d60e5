#include "attnd/models/gpt2_decoder.h"

#include <torch/torch.h>

#include <limits>

#include "attnd/core/error.h"
#include "attnd/models/blocks.h"

namespace attnd {

std::shared_ptr<Gpt2ModelImpl> as_gpt2(const Model& model, const char* who) {
  ATTND_CHECK_INPUT(model != nullptr, who, ": no model");
  auto gpt2 = std::dynamic_pointer_cast<Gpt2ModelImpl>(model);
  ATTND_CHECK_INPUT(gpt2 != nullptr, who, " works on gpt2 models only, this checkpoint's "
                    "model_type is '", model->model_type(), "'");
  return gpt2;
}

Gpt2Decoder::Gpt2Decoder(const Model& model) : model_(as_gpt2(model, "the GPT-2 decoder")) {
  model_->eval();
  reset();
}

void Gpt2Decoder::reset() {
  states_.clear();
  for (int64_t l = 0; l < model_->num_layers(); ++l)
    states_.push_back(model_->attention(l)->mixer()->start_decode());
  position_ = 0;
  batch_ = -1;
}

std::vector<int64_t> Gpt2Decoder::state_bytes() const {
  std::vector<int64_t> out;
  for (const auto& s : states_) out.push_back(s->state_bytes());
  return out;
}

torch::Tensor Gpt2Decoder::step(const torch::Tensor& ids) {
  ATTND_CHECK_INPUT(ids.defined() && (ids.dim() == 1 || (ids.dim() == 2 && ids.size(1) == 1)),
                    "Gpt2Decoder::step takes one token per sequence, ids [B] or [B, 1], got ",
                    ids.defined() ? ids.sizes() : torch::IntArrayRef{});
  return run(ids.reshape({-1, 1}), false);
}

torch::Tensor Gpt2Decoder::prefill(const torch::Tensor& ids, bool all_logits) {
  return run(ids, all_logits);
}

void Gpt2Decoder::fill_synthetic_context(int64_t n, uint64_t seed, int64_t batch) {
  const auto& c = model_->config();
  ATTND_CHECK_INPUT(position_ == 0, "gpt2 decoder: a synthetic context fills a fresh decoder; ",
                    position_, " positions were fed already");
  ATTND_CHECK_INPUT(n >= 1 && n < c.n_positions && batch >= 1, "gpt2 decoder: a synthetic context "
                    "of ", n, " positions (batch ", batch, ") must leave room in n_positions = ",
                    c.n_positions);
  torch::NoGradGuard no_grad;
  const auto& wte = model_->transformer->wte->weight;
  const auto options = wte.options();
  const int64_t heads = c.n_head, head_dim = c.n_embd / c.n_head;
  auto gen = at::detail::createCPUGenerator(seed);
  for (int64_t l = 0; l < model_->num_layers(); ++l) {
    auto k = at::randn({batch, heads, n, head_dim}, gen, options.device(torch::kCPU)).to(options);
    auto v = at::randn({batch, heads, n, head_dim}, gen, options.device(torch::kCPU)).to(options);
    model_->attention(l)->mixer()->decode_absorb(k, v, *states_[l]);
  }
  position_ = n;
  batch_ = batch;
}

torch::Tensor Gpt2Decoder::run(const torch::Tensor& ids_in, bool all_logits) {
  const auto& c = model_->config();
  check_token_ids(ids_in, c.vocab_size, std::numeric_limits<int64_t>::max(), "gpt2 decoder");
  const int64_t b = ids_in.size(0), n = ids_in.size(1);
  ATTND_CHECK_INPUT(batch_ < 0 || b == batch_, "gpt2 decoder: started with batch ", batch_,
                    ", got ", b, " sequences");
  ATTND_CHECK_INPUT(position_ + n <= c.n_positions, "gpt2 decoder: positions ", position_, "..",
                    position_ + n - 1, " exceed the model's context of n_positions = ",
                    c.n_positions);
  torch::NoGradGuard no_grad;
  auto& t = *model_->transformer;
  const auto device = t.wte->weight.device();
  auto ids = ids_in.to(device);
  auto positions = torch::arange(position_, position_ + n, ids.options()).unsqueeze(0);
  auto x = t.wte(ids) + t.wpe(positions);  // [B, n, D]
  for (int64_t l = 0; l < model_->num_layers(); ++l) {
    auto block = model_->block(l);
    auto& attn = *block->attn;
    auto a = block->ln_1(x);
    auto q = attn.queries(a), k = attn.keys(a), v = attn.values(a);
    auto& mixer = *attn.mixer();
    auto ctx = n == 1 ? mixer.decode_step(q, k, v, *states_[l])
                      : mixer.decode_prefill(q, k, v, *states_[l]);
    x = x + attn.project_output(ctx);
    x = x + block->mlp(block->ln_2(x));
  }
  position_ += n;
  batch_ = b;
  auto h = t.ln_f(all_logits ? x : x.select(1, n - 1));
  return torch::matmul(h, t.wte->weight.t());  // the tied head
}

}  // namespace attnd
