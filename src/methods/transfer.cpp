#include "attnd/methods/transfer.h"

#include <torch/torch.h>

#include <filesystem>

#include "attnd/core/enum_names.h"
#include "attnd/core/error.h"
#include "attnd/core/index_set.h"
#include "attnd/distill/distiller.h"
#include "attnd/models/model_io.h"
#include "attnd/models/attention_copy.h"
#include "attnd/train/objectives.h"

namespace attnd {

namespace fs = std::filesystem;

namespace {
constexpr EnumName<TransferMode> kTransferModes[] = {{TransferMode::kDistill, "distill"},
                                                     {TransferMode::kCopy, "copy"},
                                                     {TransferMode::kCopyQ, "copy_q"},
                                                     {TransferMode::kCopyK, "copy_k"},
                                                     {TransferMode::kCopyV, "copy_v"}};
}  // namespace

TransferMode parse_transfer_mode(const std::string& name) {
  return parse_enum(kTransferModes, name, "transfer.mode");
}

std::string to_string(TransferMode mode) { return enum_name(kTransferModes, mode); }

std::vector<int64_t> parse_layer_set(const std::string& spec, int64_t depth) {
  return parse_index_set(spec, {depth, "layer"}, "transfer.layers");
}

std::vector<int64_t> parse_head_set(const std::string& spec, int64_t heads) {
  return parse_index_subset(spec, {heads, "head"}, "transfer.heads");
}

ConfigSchema transfer_schema() {
  auto s = recipe_schema(false);
  s.add("transfer.teacher", "", "teacher checkpoint (e.g. the MAE encoder: runs/<mae>/encoder)")
      .add("transfer.mode", "distill", "distill | copy | copy_q | copy_k | copy_v")
      .add("transfer.layers", "all_but_last:1",
           "student layers that receive the teacher's attention: all, none, all_but_last:k, "
           "first:k, last:k or a list 0,1,2")
      .add("transfer.heads", "all", "heads transferred in those layers: all, first:k or a list 0,1")
      .add("transfer.weight", 3.0, "distill: weight of the summed per-layer attention loss");
  return s;
}

RecipeResult run_transfer_recipe(const Config& c, const std::string& resume) {
  configure_threads(c.get_int("run.threads"));
  const auto teacher_dir = c.get_string("transfer.teacher");
  ATTND_CHECK_INPUT(!teacher_dir.empty(), "attention transfer needs a teacher: set "
                    "transfer.teacher (or --teacher) to a checkpoint directory");
  const auto mode = parse_transfer_mode(c.get_string("transfer.mode"));
  auto device = parse_device(c.get_string("run.device"));
  auto teacher = load_model(teacher_dir, device);
  auto data = load_recipe_data(c);
  auto student = build_model(c, data);
  // The teacher's attention maps must fit the student's: same inputs, one map per head.
  ATTND_CHECK_INPUT(student->modality() == teacher->modality() &&
                        student->num_heads() == teacher->num_heads(),
                    "the teacher (", teacher_dir, ", a ", teacher->model_type(), " model with ",
                    teacher->num_heads(), " heads over ", to_string(teacher->modality()),
                    " inputs) does not fit the student (a ", student->model_type(), " model with ",
                    student->num_heads(), " heads over ", to_string(student->modality()),
                    " inputs)");
  const auto layers = parse_layer_set(c.get_string("transfer.layers"), student->num_layers());
  const auto heads = parse_head_set(c.get_string("transfer.heads"), student->num_heads());
  student->to(device);

  auto options = trainer_options(c);
  if (mode == TransferMode::kDistill) {
    DistillSpec spec;
    spec.label_smoothing = c.get_double("train.label_smoothing");
    for (auto l : layers)
      spec.terms.push_back({DistillLoss::kAttnSoftCE, l, l, c.get_double("transfer.weight"), heads});
    DistillTask task(teacher, student, spec, data.val.get(), c.get_int("train.eval_batch_size"),
                     device, fs::absolute(teacher_dir).lexically_normal().string());
    return train_and_test(c, task, data, resume);
  }
  AttentionCopySpec spec;
  spec.mode = parse_copy_mode(to_string(mode));
  spec.layers = layers;
  spec.heads = heads;
  spec.teacher = fs::absolute(teacher_dir).lexically_normal().string();
  auto model = std::make_shared<AttentionCopyModelImpl>(student, teacher, spec);
  model->to(device);
  SupervisedTask task(model, data.val.get(), c.get_int("train.eval_batch_size"), device,
                      c.get_double("train.label_smoothing"));
  return train_and_test(c, task, data, resume);
}

}  // namespace attnd
