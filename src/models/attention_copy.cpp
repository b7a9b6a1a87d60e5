#include "attnd/models/attention_copy.h"

#include <torch/torch.h>

#include "attnd/core/error.h"
#include "attnd/models/model_io.h"

namespace attnd {

CopyMode parse_copy_mode(const std::string& name) {
  if (name == "copy") return CopyMode::kAttention;
  if (name == "copy_q") return CopyMode::kQuery;
  if (name == "copy_k") return CopyMode::kKey;
  if (name == "copy_v") return CopyMode::kValue;
  throw_input_error("attention copy mode '", name, "' is not known (expected copy, copy_q, copy_k or copy_v)");
}

std::string to_string(CopyMode mode) {
  switch (mode) {
    case CopyMode::kAttention: return "copy";
    case CopyMode::kQuery: return "copy_q";
    case CopyMode::kKey: return "copy_k";
    case CopyMode::kValue: return "copy_v";
  }
  return "copy";
}

nlohmann::json AttentionCopySpec::to_json() const {
  return {{"mode", to_string(mode)}, {"layers", layers}, {"heads", heads}, {"teacher", teacher}};
}

AttentionCopySpec AttentionCopySpec::from_json(const nlohmann::json& j) {
  ATTND_CHECK_INPUT(j.is_object(), "config key 'attnd.attention_copy' must be an object with mode, "
                    "layers, heads and teacher, got ", j.type_name());
  for (auto it = j.begin(); it != j.end(); ++it)
    ATTND_CHECK_INPUT(it.key() == "mode" || it.key() == "layers" || it.key() == "heads" ||
                          it.key() == "teacher",
                      "attnd.attention_copy: unknown key '", it.key(),
                      "' (expected mode, layers, heads, teacher)");
  AttentionCopySpec s;
  try {
    s.mode = parse_copy_mode(j.value("mode", std::string("copy")));
    s.layers = j.at("layers").get<std::vector<int64_t>>();
    s.heads = j.value("heads", std::vector<int64_t>{});
    s.teacher = j.at("teacher").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw_input_error("attnd.attention_copy: ", e.what(),
                      " (expected layers: [int], heads: [int], teacher: string)");
  }
  ATTND_CHECK_INPUT(!s.teacher.empty(), "attnd.attention_copy.teacher is empty: a copy student "
                    "needs its teacher checkpoint at inference");
  return s;
}

AttentionCopyModelImpl::AttentionCopyModelImpl(Model student, Model teacher, AttentionCopySpec spec)
    : student_(std::move(student)), teacher_(std::move(teacher)), spec_(std::move(spec)) {
  ATTND_CHECK(student_ && teacher_, "attention copy needs a student and a teacher");
  ATTND_CHECK_INPUT(student_->modality() == teacher_->modality(), "attention copy: the teacher "
                    "(a ", teacher_->model_type(), " model) reads ", to_string(teacher_->modality()),
                    " inputs but the student (a ", student_->model_type(), " model) reads ",
                    to_string(student_->modality()), " inputs");
  ATTND_CHECK_INPUT(student_->num_heads() == teacher_->num_heads() &&
                        student_->attention(0)->head_dim() == teacher_->attention(0)->head_dim(),
                    "attention copy pairs heads one to one: teacher ", teacher_->num_heads(), "x",
                    teacher_->attention(0)->head_dim(), ", student ", student_->num_heads(), "x",
                    student_->attention(0)->head_dim(), " (heads x head size)");
  for (auto l : spec_.layers)
    ATTND_CHECK_INPUT(l >= 0 && l < student_->num_layers() && l < teacher_->num_layers(),
                      "attention copy: layer ", l, " out of range (student ",
                      student_->num_layers(), " layers, teacher ", teacher_->num_layers(), ")");
  for (auto h : spec_.heads)
    ATTND_CHECK_INPUT(h >= 0 && h < student_->num_heads(), "attention copy: head ", h,
                      " out of range (", student_->num_heads(), " heads)");
  ATTND_CHECK_INPUT(spec_.heads.empty() || spec_.mode == CopyMode::kAttention,
                    "attention copy: a head subset works with mode copy only, not ",
                    to_string(spec_.mode));
  // Share the student's children under their own names: parameter names stay the student's.
  for (const auto& child : student_->named_children()) register_module(child.key(), child.value());
  teacher_->eval();
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
}

nlohmann::json AttentionCopyModelImpl::base_config_json() const {
  auto config = student_->config_json();
  config["attnd"]["attention_copy"] = spec_.to_json();
  return config;
}

ModelOutput AttentionCopyModelImpl::forward(const ModelInput& input, Taps* taps) {
  unsigned what = kRecordLogits;
  Projection projection = Projection::kQuery;
  switch (spec_.mode) {
    case CopyMode::kAttention: break;
    case CopyMode::kQuery: what = kRecordQueries; projection = Projection::kQuery; break;
    case CopyMode::kKey: what = kRecordKeys; projection = Projection::kKey; break;
    case CopyMode::kValue: what = kRecordValues; projection = Projection::kValue; break;
  }
  Taps teacher_taps;
  teacher_taps.record(what, {spec_.layers.begin(), spec_.layers.end()});
  {
    torch::NoGradGuard no_grad;
    teacher_->forward(input, &teacher_taps);
  }
  Taps local;
  Taps& student_taps = taps ? *taps : local;
  for (auto l : spec_.layers) {
    const auto& t = teacher_taps.at(l);
    if (spec_.mode == CopyMode::kAttention)
      student_taps.inject_logits(l, t.logits, spec_.heads);
    else
      student_taps.inject_projection(l, projection,
                                     spec_.mode == CopyMode::kQuery ? t.queries
                                     : spec_.mode == CopyMode::kKey ? t.keys
                                                                    : t.values);
  }
  return student_->forward(input, &student_taps);
}

void AttentionCopyModelImpl::train(bool on) {
  ModelImpl::train(on);
  student_->train(on);
  teacher_->eval();
}

void AttentionCopyModelImpl::to(torch::Device device, bool non_blocking) {
  ModelImpl::to(device, non_blocking);
  teacher_->to(device, non_blocking);
}

void AttentionCopyModelImpl::to(torch::Dtype dtype, bool non_blocking) {
  ModelImpl::to(dtype, non_blocking);
  teacher_->to(dtype, non_blocking);
}

void AttentionCopyModelImpl::to(torch::Device device, torch::Dtype dtype, bool non_blocking) {
  ModelImpl::to(device, dtype, non_blocking);
  teacher_->to(device, dtype, non_blocking);
}

Model create_attention_copy_model(const nlohmann::json& config) {
  auto spec = AttentionCopySpec::from_json(config.at("attnd").at("attention_copy"));
  auto student_config = config;
  student_config["attnd"].erase("attention_copy");
  auto student = create_model(student_config);
  Model teacher;
  try {
    teacher = load_model(spec.teacher);
  } catch (const InputError& e) {
    throw_input_error("this attention-copy student needs its teacher at inference, and loading "
                      "attnd.attention_copy.teacher = '", spec.teacher, "' failed: ", e.what());
  }
  return std::make_shared<AttentionCopyModelImpl>(student, teacher, spec);
}

}  // namespace attnd
