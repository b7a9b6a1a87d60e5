// Crash-safe writes: content goes to a temporary file in the same directory, is fsynced, then
// renamed over the target (and the directory fsynced). A reader sees the old file or the new one,
// never a truncated one.
#pragma once

#include <string>
#include <string_view>

namespace attnd {

void write_file_atomic(const std::string& path, std::string_view content);

// For writers that stream: open() a temp file, write through file(), then commit() renames it.
// Destroying an uncommitted AtomicFile removes the temp file and leaves the target untouched.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void write(std::string_view s) { write(s.data(), s.size()); }
  void commit();
  const std::string& temp_path() const { return temp_path_; }

 private:
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

// fsync a directory so a rename inside it survives a crash.
void fsync_directory(const std::string& dir);

}  // namespace attnd
