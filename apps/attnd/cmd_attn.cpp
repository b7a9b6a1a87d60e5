// attnd attn: attention heatmaps of one input, per layer and head, teacher and student side by side.
#include <iostream>

#include "attnd/core/error.h"
#include "attnd/data/image_dataset.h"
#include "attnd/io/checkpoint.h"
#include "attnd/methods/recipe.h"
#include "attnd/viz/heatmap.h"
#include "commands.h"

namespace attnd::cli {

namespace {

std::map<int64_t, torch::Tensor> attention_of(ModelImpl& model, const ModelInput& input) {
  torch::NoGradGuard no_grad;
  model.eval();
  Taps taps;
  taps.record(kRecordProbs);
  model.forward(input, &taps);
  std::map<int64_t, torch::Tensor> maps;
  for (const auto& [layer, capture] : taps.captures())
    if (capture.probs.defined()) maps[layer] = capture.probs[0].cpu();
  return maps;
}

ModelInput text_input(const std::string& ids) {
  std::vector<int64_t> values;
  std::stringstream in(ids);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      values.push_back(std::stoll(item));
    } catch (const std::exception&) {
      throw_input_error("--input-ids: '", item, "' is not a token id (expected e.g. 101,2023,102)");
    }
  }
  ATTND_CHECK_INPUT(!values.empty(), "--input-ids is empty");
  ModelInput input;
  input.input_ids = torch::tensor(values, torch::kLong).unsqueeze(0);
  return input;
}
}  // namespace

std::vector<std::string> write_heatmaps(const AttnOptions& options) {
  const AttnOptions* o = &options;
    auto device = parse_device(o->device);
    auto model = load_model(o->checkpoint, device);
    Model teacher = o->teacher.empty() ? nullptr : load_model(o->teacher, device);
    ModelInput input;
    torch::Tensor image;
    int grid_h = 0, grid_w = 0;
    if (model->model_type() == "vit") {
      auto test = load_fashion_mnist(o->data_dir, false);
      ATTND_CHECK_INPUT(o->index >= 0 && o->index < test.size(), "--index ", o->index,
                        " is outside the test split (0..", test.size() - 1, ")");
      input = test.get({o->index}, 0).input;
      image = test.image(o->index);
      auto config = model->config_json();
      grid_h = grid_w = config["image_size"].get<int>() / config["patch_size"].get<int>();
    } else {
      ATTND_CHECK_INPUT(!o->input_ids.empty(), model->model_type(),
                        " models need --input-ids (comma-separated token ids)");
      input = text_input(o->input_ids);
    }
    input = input.to(device);
    std::map<std::string, std::map<int64_t, torch::Tensor>> maps;
    if (teacher) maps["teacher"] = attention_of(*teacher, input);
    maps[teacher ? "student" : "model"] = attention_of(*model, input);
    return write_attention_report(o->out, maps, image, grid_h, grid_w);
}

void add_attn_command(CLI::App& app) {
  auto o = std::make_shared<AttnOptions>();
  auto* cmd = app.add_subcommand(
      "attn", "write attention heatmaps (PNG) of one input: per layer/head, teacher vs student, "
              "and for ViTs the CLS attention over the image");
  cmd->add_option("checkpoint", o->checkpoint, "model (student) checkpoint directory")->required();
  cmd->add_option("--teacher", o->teacher, "teacher checkpoint to show side by side");
  cmd->add_option("--out", o->out, "output directory")->capture_default_str();
  cmd->add_option("--index", o->index, "test image index (image models)")->capture_default_str();
  cmd->add_option("--data-dir", o->data_dir, "Fashion-MNIST directory")->capture_default_str();
  cmd->add_option("--input-ids", o->input_ids, "comma-separated token ids (text models)");
  cmd->add_option("--device", o->device, "cpu | cuda | cuda:N")->capture_default_str();
  cmd->callback([o]() {
    auto files = write_heatmaps(*o);
    std::cout << "wrote " << files.size() << " pictures to " << o->out << "/\n";
    for (const auto& f : files) std::cout << "  " << f << "\n";
  });
}

}  // namespace attnd::cli
