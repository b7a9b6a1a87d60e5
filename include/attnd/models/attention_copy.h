// Attention copy (attention transfer, Li et al. 2024): a student whose attention in some layers
// comes from a frozen teacher that runs alongside it, at training and at inference.
//
// Modes: "copy" — the copied layers use softmax(teacher logits) with the student's own values,
// output projection, MLP and norms, and do not compute their own queries and keys; "copy_q" /
// "copy_k" — softmax(Q_t K_sᵀ/√d) / softmax(Q_s K_tᵀ/√d); "copy_v" — the student's attention
// times the teacher's values (transfers features, not attention: the paper's control).
//
// The wrapper's parameters are exactly the student's, under the student's names, so a checkpoint
// is a plain student checkpoint whose config.json carries "attnd.attention_copy" (mode, layers,
// heads and the teacher checkpoint's path): create_model rebuilds the wrapper from it, so eval,
// attn and ensembles work on copy students unchanged.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "attnd/models/model.h"

namespace attnd {

enum class CopyMode { kAttention, kQuery, kKey, kValue };

CopyMode parse_copy_mode(const std::string& name);  // copy | copy_q | copy_k | copy_v
std::string to_string(CopyMode mode);

struct AttentionCopySpec {
  CopyMode mode = CopyMode::kAttention;
  std::vector<int64_t> layers;  // student layers that take the teacher's attention
  std::vector<int64_t> heads;   // heads copied in those layers (mode "copy" only); empty = all
  std::string teacher;          // the teacher checkpoint (absolute path)

  nlohmann::json to_json() const;
  static AttentionCopySpec from_json(const nlohmann::json& json);
};

class AttentionCopyModelImpl : public ModelImpl {
 public:
  // The teacher is frozen and kept in eval mode; it is not a registered child, so it is neither
  // trained nor saved with the student.
  AttentionCopyModelImpl(Model student, Model teacher, AttentionCopySpec spec);

  std::string model_type() const override { return student_->model_type(); }
  ModelTraits traits() const override { return student_->traits(); }
  Pooling pooling() const override { return student_->pooling(); }
  PatchGrid patch_grid() const override { return student_->patch_grid(); }
  AttentionMask attention_mask(const ModelInput& input) const override {
    return student_->attention_mask(input);
  }
  bool is_fixed_parameter(const std::string& name) const override {
    return student_->is_fixed_parameter(name);
  }
  nlohmann::json base_config_json() const override;
  ModelOutput forward(const ModelInput& input, Taps* taps = nullptr) override;
  int64_t num_layers() const override { return student_->num_layers(); }
  Attention attention(int64_t layer) override { return student_->attention(layer); }
  TensorMap import_hf(TensorMap tensors) const override { return student_->import_hf(std::move(tensors)); }
  TensorMap export_hf(TensorMap tensors) const override { return student_->export_hf(std::move(tensors)); }

  void train(bool on = true) override;
  void to(torch::Device device, bool non_blocking = false) override;
  void to(torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override;

  const Model& student() const { return student_; }
  const Model& teacher() const { return teacher_; }
  const AttentionCopySpec& spec() const { return spec_; }

 private:
  Model student_, teacher_;
  AttentionCopySpec spec_;
};

// config.json with "attnd.attention_copy" → the wrapper (loads the teacher checkpoint it names);
// used by create_model.
Model create_attention_copy_model(const nlohmann::json& config);

}  // namespace attnd
