// attnd predict MODEL --input FILE --out FILE.jsonl: one JSON line per example.
//   classifiers: logits, probabilities, the predicted label (id2label's name) and, when the
//     input has labels, the true label and whether the prediction is right;
//   language models: per token its id, the model's top-k next tokens with probabilities, the
//     log-likelihood of the text (full logits with --full-logits).
// Text comes from JSONL / TSV / CSV (the text readers, labels optional) or a .txt file (one text a
// line), tokenised by the checkpoint's tokenizer; images (ViT) from a .txt list of image files.
// The output file is written atomically, and only when every example has run.
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attnd/core/error.h"
#include "attnd/core/strings.h"
#include "attnd/data/image_file.h"
#include "attnd/data/text_dataset.h"
#include "attnd/data/tokenizer_json.h"
#include "attnd/io/atomic_file.h"
#include "attnd/io/checkpoint.h"
#include "attnd/io/json_file.h"
#include "attnd/methods/recipe.h"
#include "attnd/models/blocks.h"
#include "attnd/models/model_io.h"
#include "commands.h"

namespace attnd::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct PredictOptions {
  std::string model, input, out, tokenizer;
  int64_t batch_size = 16;
  int64_t max_length = 0;  // 0: the model's position limit
  int64_t top_k = 5;
  bool full_logits = false;
  double pixel_mean = 0.0, pixel_std = 1.0;
  std::string device = "cpu";
  std::string dtype = "float32";  // what the model computes in (files of any float dtype load)
};

// One input: a text or an image file, and its label id when the input gives one.
struct Example {
  std::string text;   // text models
  std::string image;  // image models: the file, as listed
  int64_t label = kNoLabel;
};

// .txt: every line a text (blank lines skipped); else the labelled-text readers, labels optional.
std::vector<Example> read_text_inputs(const std::string& path, const std::vector<std::string>& names) {
  std::vector<Example> out;
  if (to_lower(fs::path(path).extension().string()) == ".txt") {
    for (const auto& line : split(read_text_file(path), '\n')) {
      const std::string text = ends_with(line, "\r") ? line.substr(0, line.size() - 1) : line;
      if (!trim(text).empty()) out.push_back({text, "", kNoLabel});
    }
    ATTND_CHECK_INPUT(!out.empty(), "no examples in ", path);
    return out;
  }
  for (auto& e : read_examples_file(path, names, LabelRule::kOptional))
    out.push_back({std::move(e.text), "", e.label});
  return out;
}

// A .txt list of image files, one a line, relative to the list's directory.
std::vector<Example> read_image_list(const std::string& path) {
  ATTND_CHECK_INPUT(to_lower(fs::path(path).extension().string()) == ".txt", path,
                    ": an image model reads a .txt list of image files (one path a line)");
  std::vector<Example> out;
  for (const auto& line : split(read_text_file(path), '\n')) {
    const std::string name = std::string(trim(line));
    if (!name.empty()) out.push_back({"", name, kNoLabel});
  }
  ATTND_CHECK_INPUT(!out.empty(), "no image files listed in ", path);
  return out;
}

int64_t config_int(const json& config, const char* key, int64_t fallback) {
  const auto it = config.find(key);
  return it != config.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

class Predictor {
 public:
  explicit Predictor(const PredictOptions& o) : o_(o), device_(parse_device(o.device)) {
    ATTND_CHECK_INPUT(o.batch_size >= 1, "--batch-size must be at least 1, got ", o.batch_size);
    ATTND_CHECK_INPUT(o.top_k >= 1, "--top-k must be at least 1, got ", o.top_k);
    ATTND_CHECK_INPUT(o.pixel_std > 0, "--pixel-std must be > 0, got ", o.pixel_std);
    const auto files = find_checkpoint_files(o.model);
    config_ = read_json_file(files.config);
    ATTND_CHECK_INPUT(o.dtype == "float32" || o.dtype == "float64", "--dtype must be float32 or "
                      "float64, got '", o.dtype, "'");
    model_ = load_model(o.model, device_);
    if (o.dtype == "float64") model_->to(torch::kDouble);
    model_->eval();
    const auto kind = model_->task_kind();
    ATTND_CHECK_INPUT(kind == TaskKind::kClassification || kind == TaskKind::kLanguageModel,
                      o.model, ": attnd predict runs classifiers and language models; this is a ",
                      to_string(kind), " model (detectors: attnd detect predict)");
    if (kind == TaskKind::kClassification) {
      const auto labels = LabelMap::from_json(ConfigReader(config_, files.config));
      for (int64_t i = 0; i < labels.num_labels; ++i) label_names_.push_back(labels.id2label.at(i));
    }
    if (model_->modality() == Modality::kText) {
      const std::string source =
          o.tokenizer.empty() ? fs::path(files.config).parent_path().string() : o.tokenizer;
      tokenizer_ = load_tokenizer(source);
      const int64_t positions = config_int(
          config_, "max_position_embeddings", config_int(config_, "n_positions", 0));
      ATTND_CHECK_INPUT(o.max_length <= 0 || positions <= 0 || o.max_length <= positions,
                        "--max-length ", o.max_length, " exceeds the model's ", positions,
                        " positions");
      max_length_ = o.max_length > 0 ? o.max_length : positions;
    }
  }

  std::vector<Example> read_inputs() const {
    return model_->modality() == Modality::kText ? read_text_inputs(o_.input, label_names_)
                                                 : read_image_list(o_.input);
  }

  // The JSON line of every example, in input order.
  std::vector<json> run(const std::vector<Example>& examples) {
    c10::InferenceMode inference;
    std::vector<json> out;
    for (size_t start = 0; start < examples.size(); start += size_t(o_.batch_size)) {
      const size_t end = std::min(examples.size(), start + size_t(o_.batch_size));
      const std::vector<Example> batch(examples.begin() + long(start), examples.begin() + long(end));
      std::vector<json> lines = model_->modality() == Modality::kText ? run_text(batch, start)
                                                                      : run_images(batch, start);
      for (auto& l : lines) out.push_back(std::move(l));
    }
    return out;
  }

 private:
  std::vector<json> run_text(const std::vector<Example>& batch, size_t first) {
    const bool lm = model_->task_kind() == TaskKind::kLanguageModel;
    EncodeOptions options;
    // Classifiers read [CLS] text [SEP] as in training; LMs the bare text (their documents end
    // in a boundary token that the text itself does not hold).
    options.add_special_tokens = !lm;
    options.max_length = max_length_;
    std::vector<Encoding> encodings;
    size_t longest = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      encodings.push_back(tokenizer_->encode_text(batch[i].text, nullptr, options));
      ATTND_CHECK_INPUT(!encodings.back().ids.empty(), o_.input, ": example ", first + i + 1,
                        " has no tokens (an empty text)");
      longest = std::max(longest, encodings.back().ids.size());
    }
    const int64_t pad = std::max<int64_t>(0, tokenizer_->token_to_id("[PAD]"));
    const auto b = int64_t(batch.size()), n = int64_t(longest);
    auto ids = torch::full({b, n}, pad, torch::kLong);
    auto mask = torch::zeros({b, n}, torch::kLong);
    for (int64_t i = 0; i < b; ++i) {
      const auto& e = encodings[size_t(i)];
      for (size_t t = 0; t < e.ids.size(); ++t) {
        ids[i][int64_t(t)] = e.ids[t];
        mask[i][int64_t(t)] = 1;
      }
    }
    ModelInput input;
    input.input_ids = ids.to(device_);
    input.attention_mask = mask.to(device_);
    input.token_type_ids = torch::zeros_like(input.input_ids);
    const auto logits = model_->forward(input).logits.to(torch::kCPU);
    std::vector<json> out;
    for (int64_t i = 0; i < b; ++i) {
      json line = {{"index", first + size_t(i)}, {"text", batch[size_t(i)].text}};
      const auto& e = encodings[size_t(i)];
      if (lm)
        add_lm_outputs(logits[i].slice(0, 0, int64_t(e.ids.size())), e, line);
      else
        add_class_outputs(logits[i], batch[size_t(i)].label, line);
      out.push_back(std::move(line));
    }
    return out;
  }

  std::vector<json> run_images(const std::vector<Example>& batch, size_t first) {
    const int64_t size = config_int(config_, "image_size", 0);
    const int64_t channels = config_int(config_, "num_channels", 3);
    const fs::path list_dir = fs::path(o_.input).parent_path();
    std::vector<torch::Tensor> images;
    for (size_t i = 0; i < batch.size(); ++i) {
      const fs::path path = fs::path(batch[i].image).is_absolute() ? fs::path(batch[i].image)
                                                                   : list_dir / batch[i].image;
      const std::string at = o_.input + ":" + std::to_string(first + i + 1) + ": ";
      torch::Tensor image;
      try {
        image = read_image_file(path.string(), int(channels));
      } catch (const InputError& e) {
        throw InputError(at + e.what());
      }
      ATTND_CHECK_INPUT(image.size(1) == size && image.size(2) == size, at, path.string(),
                        " is ", image.size(2), "x", image.size(1), " pixels; the model reads ",
                        size, "x", size, " images (resize them first)");
      images.push_back((image.to(torch::kFloat) / 255.0 - o_.pixel_mean) / o_.pixel_std);
    }
    ModelInput input;
    input.pixel_values = torch::stack(images).to(device_);
    const auto logits = model_->forward(input).logits.to(torch::kCPU);
    std::vector<json> out;
    for (size_t i = 0; i < batch.size(); ++i) {
      json line = {{"index", first + i}, {"image", batch[i].image}};
      add_class_outputs(logits[int64_t(i)], batch[i].label, line);
      out.push_back(std::move(line));
    }
    return out;
  }

  void add_class_outputs(const torch::Tensor& logits, int64_t label, json& line) const {
    const auto probs = torch::softmax(logits, -1);
    const int64_t predicted = probs.argmax().item<int64_t>();
    line["logits"] = values(logits);
    line["probs"] = values(probs);
    line["label_id"] = predicted;
    line["label"] = label_names_.at(size_t(predicted));
    if (label != kNoLabel) {
      line["true_label"] = label_names_.at(size_t(label));
      line["correct"] = label == predicted;
    }
  }

  // logits [N, V]: position t's distribution over token t + 1.
  void add_lm_outputs(const torch::Tensor& logits, const Encoding& e, json& line) const {
    const auto log_probs = torch::log_softmax(logits, -1);
    const int64_t k = std::min<int64_t>(o_.top_k, logits.size(1));
    const auto top = log_probs.topk(k, -1);
    const auto top_probs = std::get<0>(top).exp();
    const auto top_ids = std::get<1>(top);
    json tokens = json::array();
    double log_likelihood = 0;
    for (int64_t t = 0; t < logits.size(0); ++t) {
      json token = {{"id", e.ids[size_t(t)]}, {"token", e.tokens[size_t(t)]}};
      std::vector<int64_t> ids(static_cast<size_t>(k));
      for (int64_t j = 0; j < k; ++j) ids[size_t(j)] = top_ids[t][j].item<int64_t>();
      token["next_top_ids"] = ids;
      token["next_top_probs"] = values(top_probs[t]);
      if (t + 1 < logits.size(0)) {
        // How likely the model found the token that does come next.
        const double lp = log_probs[t][e.ids[size_t(t) + 1]].item<double>();
        token["next_log_prob"] = lp;
        log_likelihood += lp;
      }
      if (o_.full_logits) token["logits"] = values(logits[t]);
      tokens.push_back(std::move(token));
    }
    line["tokens"] = std::move(tokens);
    line["log_likelihood"] = log_likelihood;
    line["predicted_tokens"] = logits.size(0) - 1;
  }

  static std::vector<double> values(const torch::Tensor& t) {
    const auto c = t.to(torch::kDouble).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  }

  const PredictOptions& o_;
  torch::Device device_;
  json config_;
  Model model_;
  std::vector<std::string> label_names_;
  std::unique_ptr<Tokenizer> tokenizer_;
  int64_t max_length_ = 0;
};

void predict(const PredictOptions& o) {
  Predictor predictor(o);
  const auto examples = predictor.read_inputs();
  const auto lines = predictor.run(examples);
  AtomicFile file(o.out);
  for (const auto& line : lines)
    file.write(line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
  file.commit();
  std::cout << "wrote " << lines.size() << " predictions to " << o.out << "\n";
}

}  // namespace

void add_predict_command(CLI::App& app) {
  auto o = std::make_shared<PredictOptions>();
  CLI::App* cmd = app.add_subcommand(
      "predict", "Per-example outputs of a model: class probabilities and labels, or per-token "
                 "next-token top-k for language models, as JSON lines");
  cmd->add_option("model", o->model, "checkpoint or Hugging Face model directory")->required();
  cmd->add_option("--input", o->input,
                  "texts: .jsonl / .tsv / .csv (labels optional) or .txt (a text a line); "
                  "images: .txt list of image files")
      ->required();
  cmd->add_option("--out", o->out, "output .jsonl (written atomically)")->required();
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer directory or file (default: the model's)");
  cmd->add_option("--batch-size", o->batch_size, "examples per forward")->capture_default_str();
  cmd->add_option("--max-length", o->max_length,
                  "truncate texts to this many tokens (default: the model's positions)");
  cmd->add_option("--top-k", o->top_k, "language models: next tokens listed per position")
      ->capture_default_str();
  cmd->add_flag("--full-logits", o->full_logits,
                "language models: also write every position's full logits (large)");
  cmd->add_option("--pixel-mean", o->pixel_mean,
                  "images: (pixel/255 - mean) / std; attnd's own models use 0 and 1, Hugging "
                  "Face ViT processors 0.5 and 0.5")
      ->capture_default_str();
  cmd->add_option("--pixel-std", o->pixel_std, "images: see --pixel-mean")->capture_default_str();
  cmd->add_option("--device", o->device, "cpu, cuda, cuda:N")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "compute in float32 or float64 (weights stored in F16, BF16, "
                  "F32 or F64 are converted)")->capture_default_str();
  cmd->callback([o]() { predict(*o); });
}

}  // namespace attnd::cli
