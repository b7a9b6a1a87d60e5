#include "attnd/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "attnd/core/error.h"

namespace attnd {

namespace fs = std::filesystem;

void fsync_directory(const std::string& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: some filesystems refuse to open directories
  ::fsync(fd);
  ::close(fd);
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  fs::path target(path_);
  auto dir = target.parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw_error("cannot create directory '", dir.string(), "': ", ec.message());
  }
  std::string templ = path_ + ".tmp-XXXXXX";
  fd_ = ::mkstemp(templ.data());
  if (fd_ < 0) throw_error("cannot create a temporary file next to '", path_, "': ",
                           std::strerror(errno));
  temp_path_ = templ;
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t size) {
  ATTND_CHECK(fd_ >= 0 && !committed_, "write to a closed AtomicFile");
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_error("cannot write '", temp_path_, "': ", std::strerror(errno));
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  ATTND_CHECK(fd_ >= 0 && !committed_, "commit of a closed AtomicFile");
  if (::fsync(fd_) != 0) throw_error("cannot fsync '", temp_path_, "': ", std::strerror(errno));
  ::fchmod(fd_, 0644);  // mkstemp makes 0600 files
  ::close(fd_);
  fd_ = -1;
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0)
    throw_error("cannot rename '", temp_path_, "' to '", path_, "': ", std::strerror(errno));
  committed_ = true;
  fsync_directory(fs::path(path_).parent_path().string());
}

void write_file_atomic(const std::string& path, std::string_view content) {
  AtomicFile file(path);
  file.write(content);
  file.commit();
}

}  // namespace attnd
