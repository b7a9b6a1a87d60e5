// attnd attn: attention heatmaps of one input, per layer and head, teacher and student side by side;
// for a detector its encoder self-attention and its queries' cross-attention over the image.
#include <filesystem>
#include <iostream>

#include "attnd/core/error.h"
#include "attnd/core/parse_number.h"
#include "attnd/core/strings.h"
#include "attnd/data/image_file.h"
#include "attnd/data/tokenizer_json.h"
#include "attnd/data/wordpiece.h"
#include "attnd/models/model_io.h"
#include "attnd/methods/detect.h"
#include "attnd/methods/detect_attention.h"
#include "attnd/methods/recipe.h"
#include "attnd/methods/recipe_data.h"
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
    if (layer.stack == Stack::kEncoder && capture.probs.defined())
      maps[layer.index] = capture.probs[0].cpu();
  return maps;
}

ModelInput text_input(const std::string& ids) {
  std::vector<int64_t> values;
  for (const auto& item : split(ids, ',')) {
    const auto id = to_int64(trim(item));
    ATTND_CHECK_INPUT(id && *id >= 0, "--input-ids: '", item,
                      "' is not a token id (expected e.g. 101,2023,102)");
    values.push_back(*id);
  }
  ATTND_CHECK_INPUT(!values.empty(), "--input-ids is empty");
  ModelInput input;
  input.input_ids = torch::tensor(values, torch::kLong).unsqueeze(0);
  return input;
}
// The axis names of a text input: its tokens when the tokenizer knows the ids, else the ids.
std::vector<std::string> token_names(const ModelInput& input, const WordPieceTokenizer* tokenizer) {
  std::vector<std::string> names;
  const auto ids = input.input_ids[0].cpu();
  for (int64_t i = 0; i < ids.size(0); ++i) {
    const int64_t id = ids[i].item<int64_t>();
    const bool known = tokenizer && id >= 0 && id < tokenizer->vocab_size();
    names.push_back(known ? tokenizer->id_to_token(id) : std::to_string(id));
  }
  return names;
}
// A detector's pictures (methods/detect_attention.h) of --image or of test example --index of the
// data its run trained with.
std::vector<std::string> detector_heatmaps(const AttnOptions& o, ModelImpl& model) {
  ATTND_CHECK_INPUT(o.teacher.empty(), "--teacher: this checkpoint is a detector, whose attention "
                    "is shown alone (teacher and student side by side are for ViT and text models)");
  ATTND_CHECK_INPUT(o.input_ids.empty(), "--input-ids is for text models; this checkpoint is a "
                    "detector: give --image FILE or --index N");
  const auto config = checkpoint_detect_config(o.checkpoint);
  const auto options = detection_data_options(config, false);
  const auto categories = checkpoint_categories(o.checkpoint, model);
  std::shared_ptr<DetectionDataset> data;
  int64_t index = o.index;
  if (!o.image.empty()) {
    auto pixels = read_image_file(o.image, static_cast<int>(options.channels));
    CocoDataset one;
    one.categories = categories;
    one.images.push_back({1, std::filesystem::path(o.image).filename().string(), pixels.size(2),
                          pixels.size(1)});
    data = std::make_shared<DetectionDataset>(one, std::vector<torch::Tensor>{pixels}, options);
    index = 0;
  } else {
    auto dir = o.data_dir.empty() ? config.get_string("data.dir") : o.data_dir;
    data = load_detection_split(dir.empty() ? kDefaultDetectionData : dir, "test", options);
  }
  DetectionAttentionOptions a;
  a.out = o.out;
  a.queries = o.queries;
  a.token = o.token;
  return write_detection_attention(model, *data, index, categories,
                                   detection_output_options(config, model), a);
}
}  // namespace

std::vector<std::string> write_heatmaps(const AttnOptions& options) {
  const auto* o = &options;
  auto device = parse_device(o->device);
  auto model = load_model(o->checkpoint, device);
  if (model->task_kind() == TaskKind::kDetection) return detector_heatmaps(*o, *model);
  ATTND_CHECK_INPUT(o->image.empty(), "--image is for detectors; this checkpoint is a ",
                    to_string(model->task_kind()), " model (use --index)");
  Model teacher = o->teacher.empty() ? nullptr : load_model(o->teacher, device);
  ModelInput input;
  torch::Tensor image;
  PatchGrid grid;
  std::shared_ptr<const WordPieceTokenizer> tokenizer;
  if (model->modality() == Modality::kText && !o->input_ids.empty()) {
    input = text_input(o->input_ids);
    if (has_checkpoint_tokenizer(o->checkpoint))
      tokenizer = std::make_shared<WordPieceTokenizer>(load_checkpoint_tokenizer(o->checkpoint));
  } else {
    // One test example of the data the checkpoint's run trained with (--data-dir overrides
    // its folder), so the picture shows what the model was made for.
    std::vector<std::string> overrides;
    if (!o->data_dir.empty()) overrides.push_back("data.dir=" + o->data_dir);
    auto data = load_recipe_data(checkpoint_data_config(o->checkpoint, overrides));
    check_model_fits_data(*model, data);
    ATTND_CHECK_INPUT(o->index >= 0 && o->index < data.test->size(), "--index ", o->index,
                      " is outside the test split (0..", data.test->size() - 1, ")");
    input = data.test->get({o->index}, 0).input;
    if (data.test_images) image = data.test_images->image(o->index);
    grid = model->patch_grid();
    tokenizer = data.tokenizer;
  }
  AttentionReportOptions report;
  if (model->modality() == Modality::kText) report.tokens = token_names(input, tokenizer.get());
  input = input.to(device);
  std::map<std::string, std::map<int64_t, torch::Tensor>> maps;
  if (teacher) maps["teacher"] = attention_of(*teacher, input);
  maps[teacher ? "student" : "model"] = attention_of(*model, input);
  return write_attention_report(o->out, maps, image, static_cast<int>(grid.rows),
                                static_cast<int>(grid.cols), report);
}

void add_attn_command(CLI::App& app) {
  auto o = std::make_shared<AttnOptions>();
  auto* cmd = app.add_subcommand(
      "attn", "write attention heatmaps (PNG) of one input: per layer/head, teacher vs student, "
              "for ViTs the CLS attention over the image, for detectors the encoder attention "
              "and the top queries' cross-attention over the image with their boxes");
  cmd->add_option("checkpoint", o->checkpoint, "model (student) checkpoint directory")->required();
  cmd->add_option("--teacher", o->teacher, "teacher checkpoint to show side by side");
  cmd->add_option("--out", o->out, "output directory")->capture_default_str();
  cmd->add_option("--index", o->index,
                  "test example shown, from the data the checkpoint's run trained with")
      ->capture_default_str();
  cmd->add_option("--data-dir", o->data_dir,
                  "that data set's folder, if it moved (default: the run's data.dir)");
  cmd->add_option("--input-ids", o->input_ids,
                  "text models: comma-separated token ids to show instead of a test example");
  cmd->add_option("--device", o->device, "cpu | cuda | cuda:N")->capture_default_str();
  cmd->add_option("--image", o->image, "detectors: an image file to show instead of a test example");
  cmd->add_option("--queries", o->queries,
                  "detectors: cross-attention panels, of the best-scoring queries")
      ->capture_default_str();
  cmd->add_option("--token", o->token,
                  "detectors: the feature-map token (row-major) whose encoder attention is "
                  "overlaid on the image; -1 = the centre")
      ->capture_default_str();
  cmd->callback([o]() {
    auto files = write_heatmaps(*o);
    std::cout << "wrote " << files.size() << " pictures to " << o->out << "/\n";
    for (const auto& f : files) std::cout << "  " << f << "\n";
  });
}

}  // namespace attnd::cli
