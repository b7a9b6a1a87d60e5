// Per-layer state for incremental (token by token) causal decoding. A mixer makes one with
// MixerImpl::start_decode() and updates it in decode_step / decode_prefill; the state holds what
// the mixer needs from earlier positions, so that a new position costs no recomputation of them:
//   KvCache            softmax: every key and value so far (grows with the context);
//   LinearDecodeState  linear:  S = Σ φ(k)vᵀ, z = Σ φ(k) (constant size);
//   WindowDecodeState  hybrid:  the last W keys/values + a linear state of the keys that left the
//                      window (constant size).
// Tensors are allocated on the first append, with the dtype and device of the keys.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <utility>

#include "attnd/core/error.h"
#include "attnd/nn/linear_attention.h"

namespace attnd {

class MixerDecodeState {
 public:
  virtual ~MixerDecodeState() = default;
  // Bytes of the tensors that summarise the context (for memory reports).
  virtual int64_t state_bytes() const = 0;
  // Positions fed so far.
  int64_t tokens() const { return tokens_; }

 protected:
  int64_t tokens_ = 0;
};

// Keys [B, H, N, Dk] and values [B, H, N, Dv] of every position so far. The buffers grow by
// doubling (amortised O(1) per appended position, no copy of the whole cache per step);
// state_bytes() counts the positions held, allocated_bytes() the buffers (at most ~2x).
class KvCache : public MixerDecodeState {
 public:
  void append(const torch::Tensor& k, const torch::Tensor& v);
  torch::Tensor keys() const;    // views of the first tokens() positions
  torch::Tensor values() const;
  int64_t state_bytes() const override;
  int64_t allocated_bytes() const;

 private:
  torch::Tensor k_, v_;
};

// The recurrent form of linear attention (LinearAttentionState) behind the decode interface.
class LinearDecodeState : public MixerDecodeState {
 public:
  explicit LinearDecodeState(double eps) { linear_.eps = eps; }
  // fq, fk [B, H, n, D'], v [B, H, n, Dv] → outputs [B, H, n, Dv], causal among the n.
  torch::Tensor step(const torch::Tensor& fq, const torch::Tensor& fk, const torch::Tensor& v);
  // Sets S, z from the first n positions without computing outputs (the state must be empty).
  void absorb(const torch::Tensor& fk, const torch::Tensor& v);
  const LinearAttentionState& linear() const { return linear_; }
  int64_t state_bytes() const override;

 private:
  LinearAttentionState linear_;
};

// The last `window` keys/values in a ring buffer (position p in slot p mod W), plus S = Σ φ(k)vᵀ
// and z = Σ φ(k) over the keys that have left the window. The buffers are allocated at full
// window size on the first push, so state_bytes() is flat from then on.
class WindowDecodeState : public MixerDecodeState {
 public:
  // feature_dim: D' of the key map, for allocating S and z up front.
  WindowDecodeState(int64_t window, int64_t feature_dim) : window_(window), feature_dim_(feature_dim) {}
  // Stores position tokens() (k [B, H, 1, Dk], v [B, H, 1, Dv]). Returns the key and value that
  // leave the window to make room (undefined while the window is not full yet).
  std::pair<torch::Tensor, torch::Tensor> push(const torch::Tensor& k, const torch::Tensor& v);
  // Starts an empty state with n ≥ 1 positions k [B, H, n, Dk], v [B, H, n, Dv]: the last
  // min(n, W) go into their slots. Returns how many positions (the first n − W) are left out, for
  // the caller to absorb as features.
  int64_t fill(const torch::Tensor& k, const torch::Tensor& v);
  // Adds left-window features fk [B, H, n, D'] and values [B, H, n, Dv] to S and z.
  void absorb(const torch::Tensor& fk, const torch::Tensor& v);
  // The keys/values in the window, [B, H, min(tokens, W), ·], in slot order (not position order:
  // the softmax part is a sum, so the order does not matter).
  torch::Tensor window_keys() const;
  torch::Tensor window_values() const;
  const torch::Tensor& S() const { return S_; }
  const torch::Tensor& z() const { return z_; }
  int64_t window() const { return window_; }
  int64_t state_bytes() const override;

 private:
  void allocate(const torch::Tensor& k, const torch::Tensor& v);
  int64_t window_, feature_dim_;
  torch::Tensor k_, v_, S_, z_;
};

// The state a mixer expects, or InputError (a state started by another mixer was passed).
template <typename State>
State& decode_state_as(MixerDecodeState& state, const char* mixer_kind) {
  auto* s = dynamic_cast<State*>(&state);
  if (!s) throw_input_error("mixer '", mixer_kind, "' got a decode state made by another mixer");
  return *s;
}

}  // namespace attnd
