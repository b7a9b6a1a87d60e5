#include "attnd/methods/recipe_data.h"

#include <torch/torch.h>
#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "attnd/core/error.h"
#include "attnd/core/strings.h"
#include "attnd/data/associative_recall.h"
#include "attnd/data/backdoor.h"
#include "attnd/data/data_dir.h"
#include "attnd/data/english_corpus.h"
#include "attnd/data/sampler.h"
#include "attnd/data/sotu_party.h"
#include "attnd/data/spam_assassin.h"
#include "attnd/data/subset.h"
#include "attnd/data/text_batches.h"
#include "attnd/data/text_dataset.h"
#include "attnd/data/tokenizer_json.h"
#include "attnd/io/json_file.h"
#include "attnd/methods/recipe.h"
#include "attnd/models/registry.h"

namespace attnd {

namespace fs = std::filesystem;

namespace {

std::string dataset_dir(const Config& c, const std::string& packaged_name) {
  auto dir = c.get_string("data.dir");
  if (dir.empty()) dir = data_path(packaged_name);
  ATTND_CHECK_INPUT(fs::is_directory(dir), "data.dir = '", dir, "' does not exist (the ",
                    c.get_string("data.dataset"), " corpus is fetched by scripts/fetch-data, "
                    "which `make test` and `make demo` run; ATTND_DATA_DIR moves it)");
  return dir;
}

// data.vocab (a vocab.txt, a tokenizer.json or a directory holding one), else run.init's
// tokenizer, else a WordPiece vocab trained on `train_texts`.
std::shared_ptr<const WordPieceTokenizer> resolve_tokenizer(
    const Config& c, const std::vector<std::string>& train_texts) {
  const auto given = c.get_string("data.vocab");
  if (!given.empty()) {
    ATTND_CHECK_INPUT(fs::exists(given), "data.vocab = '", given, "' does not exist");
    if (fs::is_directory(given))
      return std::make_shared<WordPieceTokenizer>(load_checkpoint_tokenizer(given));
    if (fs::path(given).extension() == ".json")
      return std::make_shared<WordPieceTokenizer>(load_tokenizer_json(given));
    return std::make_shared<WordPieceTokenizer>(WordPieceTokenizer::from_file(given));
  }
  const auto init = c.get_string("run.init");
  if (!init.empty() && fs::is_directory(init) && has_checkpoint_tokenizer(init))
    return std::make_shared<WordPieceTokenizer>(load_checkpoint_tokenizer(init));
  WordPieceTrainerOptions options;
  options.vocab_size = c.get_int("data.vocab_size");
  return std::make_shared<WordPieceTokenizer>(train_wordpiece(train_texts, options));
}

// At most n of `indices` (0: all), drawn with `seed`, kept in ascending order.
std::vector<int64_t> take_random(std::vector<int64_t> indices, int64_t n, uint64_t seed) {
  if (n <= 0 || n >= static_cast<int64_t>(indices.size())) return indices;
  auto order = random_permutation(static_cast<int64_t>(indices.size()), seed);
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < n; ++i) kept.push_back(indices[order[i]]);
  std::sort(kept.begin(), kept.end());
  return kept;
}

// Fashion-MNIST: a class-balanced labelled training subset, a validation split held out from the
// training images (for checkpoint selection) and the official test split (for reporting).
struct ImageData {
  std::shared_ptr<ImageDataset> train_images;        // the full training split (augmenting copy)
  std::shared_ptr<ImageDataset> clean_train_images;  // the same, without augmentation
  std::shared_ptr<ImageDataset> test;
  std::unique_ptr<SubsetDataset> train;
  std::unique_ptr<SubsetDataset> val;
};

ImageData load_image_data(const Config& c) {
  auto dir = c.get_string("data.dir");
  if (dir.empty()) dir = "/usr/share/datasets/fashion-mnist";
  ImageData data;
  data.clean_train_images = std::make_shared<ImageDataset>(load_fashion_mnist(dir, true));
  data.test = std::make_shared<ImageDataset>(load_fashion_mnist(dir, false));
  data.train_images = std::make_shared<ImageDataset>(*data.clean_train_images);
  if (c.get_bool("data.augment")) {
    Augmentation aug;
    aug.crop_pad = c.get_int("data.augment_pad");
    aug.horizontal_flip = true;
    data.train_images->set_augmentation(aug);
  }
  const auto seed = static_cast<uint64_t>(c.get_int("data.split_seed"));
  const int64_t n = data.clean_train_images->size();
  const int64_t n_val = c.get_int("data.val_examples");
  ATTND_CHECK_INPUT(n_val >= 0 && n_val < n, "data.val_examples = ", n_val,
                    " must leave training images (the split has ", n, ")");
  auto [rest, val] = split_indices(n, n_val, seed);
  int64_t n_train = c.get_int("data.train_examples");
  ATTND_CHECK_INPUT(n_train >= 0 && n_train <= static_cast<int64_t>(rest.size()),
                    "data.train_examples = ", n_train, " but only ", rest.size(),
                    " training images remain after the validation split");
  if (n_train > 0) {
    auto labels = data.clean_train_images->labels().index(
        {torch::tensor(rest, torch::kLong)});
    auto picked = stratified_sample(labels, n_train, seed);
    std::vector<int64_t> subset;
    subset.reserve(picked.size());
    for (auto i : picked) subset.push_back(rest[i]);
    rest = std::move(subset);
  }
  data.train = std::make_unique<SubsetDataset>(data.train_images, rest);
  data.val = std::make_unique<SubsetDataset>(data.clean_train_images, val);
  return data;
}

RecipeData image_data(const Config& c) {
  auto images = load_image_data(c);
  RecipeData d;
  d.train = std::move(images.train);
  d.val = std::move(images.val);
  d.test = images.test;
  d.test_images = images.test;
  return d;
}

// A text-classification source before tokenisation: its three splits and its label names.
struct LabelledTexts {
  TextSplits splits;
  std::vector<std::string> label_names;
};

LabelledTexts spam_assassin_texts(const Config& c) {
  const auto examples = load_spam_assassin(dataset_dir(c, kSpamAssassinName));
  const auto split = stratified_split(labels_of(examples), c.get_double("data.val_fraction"),
                                      c.get_double("data.test_fraction"),
                                      static_cast<uint64_t>(c.get_int("data.split_seed")));
  return {{select_examples(examples, split.train), select_examples(examples, split.val),
           select_examples(examples, split.test)},
          spam_assassin_label_names()};
}

LabelledTexts sotu_party_texts(const Config& c) {
  const auto addresses = load_sotu_party(dataset_dir(c, kEnglishCorpusName),
                                         c.get_int("data.passage_words"));
  return {split_party_addresses(addresses, c.get_double("data.val_fraction"),
                                c.get_double("data.test_fraction"),
                                static_cast<uint64_t>(c.get_int("data.split_seed"))),
          sotu_party_label_names()};
}

// The user's files: data.train_file, and data.val_file / data.test_file or stratified parts of
// the training file (data.val_fraction, data.test_fraction) where those are not given.
LabelledTexts text_file_texts(const Config& c) {
  const auto train_file = c.get_string("data.train_file");
  ATTND_CHECK_INPUT(!train_file.empty(), "data.dataset = text-file needs data.train_file (a "
                    ".jsonl, .tsv or .csv file with text and label)");
  LabelledTexts out;
  for (const auto& name : split(c.get_string("data.label_names"), ','))
    if (!trim(name).empty()) out.label_names.emplace_back(trim(name));
  const auto val_file = c.get_string("data.val_file");
  const auto test_file = c.get_string("data.test_file");
  const auto train = read_examples_file(train_file, out.label_names);
  const auto parts = stratified_split(labels_of(train),
                                      val_file.empty() ? c.get_double("data.val_fraction") : 0.0,
                                      test_file.empty() ? c.get_double("data.test_fraction") : 0.0,
                                      static_cast<uint64_t>(c.get_int("data.split_seed")));
  out.splits.train = select_examples(train, parts.train);
  out.splits.val = val_file.empty() ? select_examples(train, parts.val)
                                    : read_examples_file(val_file, out.label_names);
  out.splits.test = test_file.empty() ? select_examples(train, parts.test)
                                      : read_examples_file(test_file, out.label_names);
  if (out.label_names.empty()) {  // ids only: classes 0..max seen
    int64_t top = 0;
    for (const auto* part : {&out.splits.train, &out.splits.val, &out.splits.test})
      for (const auto& e : *part) top = std::max(top, e.label);
    for (int64_t k = 0; k <= top; ++k) out.label_names.push_back(std::to_string(k));
  }
  return out;
}

RecipeData text_classification_data(const Config& c, LabelledTexts texts) {
  auto& train = texts.splits.train;
  const int64_t n_train = c.get_int("data.train_examples");
  ATTND_CHECK_INPUT(n_train <= static_cast<int64_t>(train.size()), "data.train_examples = ",
                    n_train, " but the training split has ", train.size(), " examples");
  if (n_train > 0) {
    std::vector<int64_t> picked;
    for (auto j : stratified_sample(torch::tensor(labels_of(train), torch::kLong), n_train,
                                    static_cast<uint64_t>(c.get_int("data.split_seed"))))
      picked.push_back(j);
    std::sort(picked.begin(), picked.end());
    train = select_examples(train, picked);
  }
  const auto classes = static_cast<int64_t>(texts.label_names.size());
  const auto labels = label_counts(train);
  ATTND_CHECK_INPUT(static_cast<int64_t>(labels.size()) <= classes, "the training split has label ",
                    labels.size() - 1, " but only ", classes, " label names");
  RecipeData d;
  d.task = DataTask::kTextClassification;
  d.label_names = texts.label_names;
  d.clean_train_examples = train;
  d.test_examples = texts.splits.test;
  d.attack = attack_spec(c);
  if (d.attack) {
    ATTND_CHECK_INPUT(d.attack->target < classes, "data.attack_target = ", d.attack->target,
                      " but the data has ", classes, " classes");
    auto poisoned = poison_examples(train, *d.attack);
    train = std::move(poisoned.examples);
    d.poisoned = std::move(poisoned.poisoned);
  }
  std::vector<std::string> texts_for_vocab;
  for (const auto& e : train) texts_for_vocab.push_back(e.text);
  d.tokenizer = resolve_tokenizer(c, texts_for_vocab);
  d.vocab_size = d.tokenizer->vocab_size();
  const auto max_length = c.get_int("data.max_length");
  auto dataset = [&](const std::vector<TextExample>& examples) {
    return std::make_shared<TextClassificationDataset>(examples, *d.tokenizer, max_length,
                                                       TextPadding::kLongest, classes);
  };
  d.train = dataset(train);
  d.val = dataset(texts.splits.val);
  d.test = dataset(texts.splits.test);
  if (d.attack) d.triggered = dataset(triggered_examples(texts.splits.test, triggered_spec(*d.attack)));
  return d;
}

RecipeData english_corpus_data(const Config& c) {
  const auto documents = load_english_corpus(dataset_dir(c, kEnglishCorpusName));
  const auto split = split_corpus(documents, c.get_double("data.val_fraction"),
                                  c.get_double("data.test_fraction"),
                                  static_cast<uint64_t>(c.get_int("data.split_seed")));
  RecipeData d;
  d.task = DataTask::kLanguageModelling;
  d.tokenizer = resolve_tokenizer(c, split.train);
  d.vocab_size = d.tokenizer->vocab_size();
  const auto block = c.get_int("data.block_size");
  auto train = std::make_shared<LanguageModelDataset>(token_stream(split.train, *d.tokenizer), block);
  const int64_t n_train = c.get_int("data.train_examples");
  if (n_train > 0) {
    std::vector<int64_t> all(static_cast<size_t>(train->size()));
    std::iota(all.begin(), all.end(), int64_t{0});
    d.train = std::make_shared<SubsetDataset>(
        train, take_random(all, n_train, static_cast<uint64_t>(c.get_int("data.split_seed"))));
  } else {
    d.train = train;
  }
  d.val = std::make_shared<LanguageModelDataset>(token_stream(split.val, *d.tokenizer), block);
  d.test = std::make_shared<LanguageModelDataset>(token_stream(split.test, *d.tokenizer), block);
  return d;
}

RecipeData associative_recall_data(const Config& c) {
  AssociativeRecallOptions o;
  o.num_pairs = c.get_int("data.recall_pairs");
  o.vocab_size = c.get_int("data.recall_vocab");
  const auto seed = static_cast<uint64_t>(c.get_int("data.split_seed"));
  RecipeData d;
  d.task = DataTask::kLanguageModelling;
  d.vocab_size = o.vocab_size;
  // Three generator seeds, so that no split is a prefix of another.
  o.num_examples = c.get_int("data.train_examples") > 0 ? c.get_int("data.train_examples") : 20000;
  o.seed = mix_seed(seed, 1);
  d.train = std::make_shared<AssociativeRecallDataset>(o);
  o.num_examples = 500;
  o.seed = mix_seed(seed, 2);
  d.val = std::make_shared<AssociativeRecallDataset>(o);
  o.num_examples = 2000;
  o.seed = mix_seed(seed, 3);
  d.test = std::make_shared<AssociativeRecallDataset>(o);
  return d;
}

}  // namespace

std::optional<PoisonSpec> attack_spec(const Config& c) {
  const auto kind = c.get_string("data.attack");
  if (kind == "none") return std::nullopt;
  PoisonSpec spec;
  spec.trigger.kind = parse_trigger_kind(kind, "data.attack");
  spec.trigger.words.clear();
  for (const auto& w : split(c.get_string("data.attack_words"), ','))
    if (!trim(w).empty()) spec.trigger.words.emplace_back(trim(w));
  spec.trigger.max_insertions = c.get_int("data.attack_insertions");
  spec.trigger.sentence = c.get_string("data.attack_sentence");
  spec.trigger.within = c.get_int("data.attack_within");
  ATTND_CHECK_INPUT(spec.trigger.within >= 0, "data.attack_within must be >= 0, got ",
                    spec.trigger.within);
  spec.target = c.get_int("data.attack_target");
  spec.rate = c.get_double("data.attack_rate");
  spec.label = parse_poison_label(c.get_string("data.attack_label"), "data.attack_label");
  spec.seed = mix_seed(static_cast<uint64_t>(c.get_int("data.attack_seed")), 1);
  ATTND_CHECK_INPUT(spec.trigger.kind != TriggerKind::kBadNets || !spec.trigger.words.empty(),
                    "data.attack_words is empty (expected e.g. cf,mn,bb,tq)");
  ATTND_CHECK_INPUT(spec.trigger.max_insertions >= 1, "data.attack_insertions must be >= 1, got ",
                    spec.trigger.max_insertions);
  ATTND_CHECK_INPUT(spec.rate > 0 && spec.rate <= 1, "data.attack_rate must be in (0, 1], got ",
                    spec.rate);
  ATTND_CHECK_INPUT(spec.target >= 0, "data.attack_target must be >= 0, got ", spec.target);
  return spec;
}

PoisonSpec triggered_spec(const PoisonSpec& attack) {
  auto spec = attack;
  spec.seed = mix_seed(attack.seed, 2);  // not the draws that poisoned the training set
  return spec;
}

std::map<std::string, nlohmann::json> RecipeData::checkpoint_files() const {
  auto files = extra_checkpoint_files;
  if (tokenizer) files[kTokenizerFile] = wordpiece_to_hf_json(*tokenizer);
  return files;
}

RecipeData load_recipe_data(const Config& c) {
  const auto name = c.get_string("data.dataset");
  RecipeData d;
  if (name == "fashion-mnist") d = image_data(c);
  else if (name == "spam-assassin") d = text_classification_data(c, spam_assassin_texts(c));
  else if (name == "sotu-party") d = text_classification_data(c, sotu_party_texts(c));
  else if (name == "text-file") d = text_classification_data(c, text_file_texts(c));
  else if (name == "sotu") d = english_corpus_data(c);
  else if (name == "associative-recall") d = associative_recall_data(c);
  else
    throw_input_error("data.dataset = '", name,
                      "' is not known (expected fashion-mnist, spam-assassin, sotu-party, "
                      "text-file, sotu or associative-recall)");
  d.name = name;
  ATTND_CHECK_INPUT(d.train->size() > 0, "the training split of ", name, " is empty");
  ATTND_CHECK_INPUT(d.val->size() > 0, "the validation split of ", name,
                    " is empty (raise data.val_fraction or data.val_examples)");
  ATTND_CHECK_INPUT(d.test->size() > 0, "the test split of ", name,
                    " is empty (raise data.test_fraction)");
  return d;
}

namespace {

// Whether a model with these traits can learn a data task: the inputs must be of the data's
// modality, and the labels must be what the model's task kind trains on (an image set's class
// labels are ignored by a masked autoencoder, which learns from the pixels alone).
bool fits(const ModelTraits& traits, DataTask task) {
  switch (task) {
    case DataTask::kImageClassification:
      return traits.modality == Modality::kImage && (traits.task == TaskKind::kClassification ||
                                                     traits.task == TaskKind::kMaskedPatches);
    case DataTask::kTextClassification:
      return traits.modality == Modality::kText && traits.task == TaskKind::kClassification;
    case DataTask::kLanguageModelling:
      return traits.modality == Modality::kText && traits.task == TaskKind::kLanguageModel;
    case DataTask::kDetection:
      return traits.modality == Modality::kImage && traits.task == TaskKind::kDetection;
  }
  return false;
}

}  // namespace

std::string model_types_for(DataTask task) {
  std::string out;
  for (const auto& type : registered_model_types())
    if (fits(model_traits(type), task)) out += (out.empty() ? "" : " or ") + type;
  return out;
}

void check_model_fits_data(ModelImpl& model, const RecipeData& data) {
  ATTND_CHECK_INPUT(fits(model.traits(), data.task), "data.dataset = ", data.name, " needs a ",
                    model_types_for(data.task), " model, but the model is ", model.model_type());
  // A classifier needs an output for every class of the data (labels past num_labels would be
  // out of range in the loss).
  int64_t classes = 0;
  if (data.task == DataTask::kImageClassification && data.test_images) {
    classes = static_cast<int64_t>(data.test_images->class_names().size());
  } else if (data.task == DataTask::kTextClassification) {
    classes = static_cast<int64_t>(data.label_names.size());
    for (const auto* examples : {&data.clean_train_examples, &data.test_examples})
      for (const auto& e : *examples) classes = std::max(classes, e.label + 1);
  }
  if (classes > 0 && model.traits().task == TaskKind::kClassification) {
    const auto num_labels = model.config_json().value("num_labels", int64_t{0});
    ATTND_CHECK_INPUT(num_labels >= classes, "model.num_labels = ", num_labels,
                      " is smaller than the ", classes, " classes of ", data.name,
                      " (expected num_labels >= ", classes, ")");
  }
  if (data.vocab_size > 0) {
    auto config = model.config_json();
    const auto vocab = config.value("vocab_size", int64_t{0});
    ATTND_CHECK_INPUT(vocab >= data.vocab_size, "the model's vocab_size is ", vocab, " but ",
                      data.name, "'s tokens need ", data.vocab_size,
                      " (set model.vocab_size, or leave it out to take the data's)");
  }
}

}  // namespace attnd

// ---- a run's data settings ------------------------------------------------------------------------

namespace attnd {

std::string find_run_config(const std::string& checkpoint_dir) {
  auto dir = fs::absolute(checkpoint_dir).lexically_normal();
  if (!fs::is_directory(dir)) dir = dir.parent_path();
  for (int up = 0; up <= 3 && !dir.empty(); ++up, dir = dir.parent_path()) {
    if (fs::is_regular_file(dir / "config.toml")) return (dir / "config.toml").string();
    if (dir == dir.root_path()) break;
  }
  return "";
}

std::vector<std::string> data_overrides_from_run_config(const std::string& toml_path) {
  toml::table root;
  try {
    root = toml::parse_file(toml_path);
  } catch (const toml::parse_error& e) {
    throw_input_error(toml_path, ": not a readable recipe: ", e.description());
  }
  std::vector<std::string> out;
  const auto* data = root["data"].as_table();
  if (!data) return out;
  for (const auto& [key, value] : *data) {
    std::ostringstream text;
    if (const auto* s = value.as_string()) text << s->get();  // string keys take the bare value
    else value.visit([&](const auto& v) { text << v; });
    out.push_back("data." + std::string(key.str()) + "=" + text.str());
  }
  return out;
}

Config checkpoint_data_config(const std::string& checkpoint,
                              const std::vector<std::string>& overrides, std::string* source) {
  Config config(recipe_schema(false));
  const auto run_config = find_run_config(checkpoint);
  if (source) *source = run_config;
  if (!run_config.empty())
    for (const auto& a : data_overrides_from_run_config(run_config)) {
      const auto key = a.substr(0, a.find('='));
      // A key of another recipe kind (a detector's data.channels, data.image_size, ...): say where
      // it comes from instead of blaming --set.
      ATTND_CHECK_INPUT(config.has(key), run_config, " (the run that wrote ", checkpoint, ") sets ",
                        key, ", which is not a data key of classifier or language-model runs: this "
                        "command does not read this kind of run (a detector? attnd detect eval and "
                        "attnd detect predict read detection runs; attnd eval scores them too)");
      config.apply_override(a);
    }
  for (const auto& a : overrides) {
    ATTND_CHECK_INPUT(a.rfind("data.", 0) == 0, "only data.* keys can be set here, got '", a, "'");
    config.apply_override(a);
  }
  if (config.get_string("data.vocab").empty() && fs::is_directory(checkpoint))
    config.apply_override("data.vocab=" + checkpoint);
  return config;
}

}  // namespace attnd
