#include "attnd/nn/decode_state.h"

#include <torch/torch.h>

#include <algorithm>

#include "attnd/core/error.h"

namespace attnd {
namespace {

int64_t nbytes(const torch::Tensor& t) {
  return t.defined() ? static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size()) : 0;
}

void check_kv(const torch::Tensor& k, const torch::Tensor& v, const char* what) {
  ATTND_CHECK_INPUT(k.dim() == 4 && v.dim() == 4 && k.size(0) == v.size(0) &&
                        k.size(1) == v.size(1) && k.size(2) == v.size(2),
                    what, ": keys [B, H, n, Dk] and values [B, H, n, Dv] must agree, got ",
                    k.sizes(), " and ", v.sizes());
}

// A buffer like `x` but with room for `capacity` positions (dim 2), the first `used` copied over.
torch::Tensor grown(const torch::Tensor& old, const torch::Tensor& like, int64_t used,
                    int64_t capacity) {
  auto sizes = like.sizes().vec();
  sizes[2] = capacity;
  auto buffer = torch::empty(sizes, like.options());
  if (used > 0) buffer.narrow(2, 0, used).copy_(old.narrow(2, 0, used));
  return buffer;
}

}  // namespace

// ---- KvCache ----------------------------------------------------------------------------------

void KvCache::append(const torch::Tensor& k, const torch::Tensor& v) {
  check_kv(k, v, "KvCache::append");
  const int64_t n = k.size(2);
  if (k_.defined()) {
    ATTND_CHECK_INPUT(k.size(0) == k_.size(0) && k.size(1) == k_.size(1) &&
                          k.size(3) == k_.size(3) && v.size(3) == v_.size(3),
                      "KvCache: cache holds keys ", k_.sizes(), " but got ", k.sizes());
  }
  const int64_t capacity = k_.defined() ? k_.size(2) : 0;
  if (tokens_ + n > capacity) {
    const int64_t grown_to = std::max<int64_t>({tokens_ + n, 2 * capacity, 16});
    k_ = grown(k_, k, tokens_, grown_to);
    v_ = grown(v_, v, tokens_, grown_to);
  }
  k_.narrow(2, tokens_, n).copy_(k);
  v_.narrow(2, tokens_, n).copy_(v);
  tokens_ += n;
}

torch::Tensor KvCache::keys() const { return k_.defined() ? k_.narrow(2, 0, tokens_) : k_; }
torch::Tensor KvCache::values() const { return v_.defined() ? v_.narrow(2, 0, tokens_) : v_; }

int64_t KvCache::state_bytes() const {
  if (!k_.defined()) return 0;
  return tokens_ * (nbytes(k_) + nbytes(v_)) / k_.size(2);
}

int64_t KvCache::allocated_bytes() const { return nbytes(k_) + nbytes(v_); }

// ---- LinearDecodeState ----------------------------------------------------------------------

torch::Tensor LinearDecodeState::step(const torch::Tensor& fq, const torch::Tensor& fk,
                                      const torch::Tensor& v) {
  auto y = linear_.step(fq, fk, v);
  tokens_ = linear_.tokens;
  return y;
}

void LinearDecodeState::absorb(const torch::Tensor& fk, const torch::Tensor& v) {
  check_kv(fk, v, "LinearDecodeState::absorb");
  ATTND_CHECK(linear_.tokens == 0, "absorb needs an empty state");
  linear_.S = torch::matmul(fk.transpose(-1, -2), v);
  linear_.z = fk.sum(2);
  linear_.tokens = fk.size(2);
  tokens_ = linear_.tokens;
}

int64_t LinearDecodeState::state_bytes() const { return nbytes(linear_.S) + nbytes(linear_.z); }

// ---- WindowDecodeState ----------------------------------------------------------------------

void WindowDecodeState::allocate(const torch::Tensor& k, const torch::Tensor& v) {
  const int64_t b = k.size(0), h = k.size(1);
  k_ = torch::zeros({b, h, window_, k.size(3)}, k.options());
  v_ = torch::zeros({b, h, window_, v.size(3)}, v.options());
  S_ = torch::zeros({b, h, feature_dim_, v.size(3)}, v.options());
  z_ = torch::zeros({b, h, feature_dim_}, k.options());
}

std::pair<torch::Tensor, torch::Tensor> WindowDecodeState::push(const torch::Tensor& k,
                                                                const torch::Tensor& v) {
  check_kv(k, v, "WindowDecodeState::push");
  ATTND_CHECK(k.size(2) == 1, "push takes one position, got ", k.size(2));
  if (!k_.defined()) allocate(k, v);
  ATTND_CHECK_INPUT(k.size(0) == k_.size(0) && k.size(1) == k_.size(1) &&
                        k.size(3) == k_.size(3) && v.size(3) == v_.size(3),
                    "window decode state holds keys ", k_.sizes(), " but got ", k.sizes());
  const int64_t slot = tokens_ % window_;
  std::pair<torch::Tensor, torch::Tensor> left;
  if (tokens_ >= window_) {  // slot holds position tokens_ − W, which now leaves the window
    left = {k_.narrow(2, slot, 1).clone(), v_.narrow(2, slot, 1).clone()};
  }
  k_.narrow(2, slot, 1).copy_(k);
  v_.narrow(2, slot, 1).copy_(v);
  ++tokens_;
  return left;
}

int64_t WindowDecodeState::fill(const torch::Tensor& k, const torch::Tensor& v) {
  check_kv(k, v, "WindowDecodeState::fill");
  ATTND_CHECK(tokens_ == 0, "fill needs an empty state");
  allocate(k, v);
  const int64_t n = k.size(2), first = std::max<int64_t>(0, n - window_);
  auto slots = torch::arange(first, n, torch::TensorOptions().dtype(torch::kLong).device(k.device()))
                   .remainder(window_);
  k_.index_copy_(2, slots, k.narrow(2, first, n - first));
  v_.index_copy_(2, slots, v.narrow(2, first, n - first));
  tokens_ = n;
  return first;
}

void WindowDecodeState::absorb(const torch::Tensor& fk, const torch::Tensor& v) {
  ATTND_CHECK(S_.defined(), "absorb before the first push");
  S_ = S_ + torch::matmul(fk.transpose(-1, -2), v);
  z_ = z_ + fk.sum(2);
}

torch::Tensor WindowDecodeState::window_keys() const {
  return k_.defined() ? k_.narrow(2, 0, std::min(tokens_, window_)) : k_;
}
torch::Tensor WindowDecodeState::window_values() const {
  return v_.defined() ? v_.narrow(2, 0, std::min(tokens_, window_)) : v_;
}

int64_t WindowDecodeState::state_bytes() const {
  return nbytes(k_) + nbytes(v_) + nbytes(S_) + nbytes(z_);
}

}  // namespace attnd
