#include "attnd/data/idx.h"

#include <zlib.h>

#include <climits>
#include <filesystem>
#include <memory>

#include "attnd/core/error.h"

namespace attnd {

namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const {
    if (f) gzclose(f);
  }
};

// Reads up to `size` bytes; returns how many were read (fewer only at the end of the data).
size_t read_some(gzFile file, uint8_t* out, size_t size, const std::string& path) {
  size_t total = 0;
  while (total < size) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(size - total, 1u << 30));
    const int n = gzread(file, out + total, chunk);
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file, &code);
      throw_input_error("cannot read IDX file ", path, ": ", message ? message : "read error");
    }
    if (n == 0) break;
    total += static_cast<size_t>(n);
  }
  // zlib reports a gzip stream that ends early as an error after the last successful read.
  int code = 0;
  const char* message = gzerror(file, &code);
  if (code != Z_OK && code != Z_STREAM_END)
    throw_input_error("cannot read IDX file ", path, " (corrupt or truncated gzip data): ",
                      message ? message : "");
  return total;
}

}  // namespace

IdxArray read_idx(const std::string& path, int expected_ndims) {
  std::error_code ec;
  ATTND_CHECK_INPUT(std::filesystem::is_regular_file(path, ec), "IDX file not found: ", path);
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  ATTND_CHECK_INPUT(file != nullptr, "cannot open IDX file ", path);
  gzbuffer(file.get(), 1 << 17);

  uint8_t magic[4];
  ATTND_CHECK_INPUT(read_some(file.get(), magic, 4, path) == 4, "IDX file ", path,
                    " is too short for its 4-byte magic number");
  ATTND_CHECK_INPUT(magic[0] == 0 && magic[1] == 0, "IDX file ", path,
                    " has a bad magic number (first two bytes must be 0)");
  ATTND_CHECK_INPUT(magic[2] == 0x08, "IDX file ", path, " has data type 0x", std::hex,
                    static_cast<int>(magic[2]), std::dec, "; only unsigned bytes (0x08) are supported");
  const int ndims = magic[3];
  ATTND_CHECK_INPUT(ndims >= 1, "IDX file ", path, " declares 0 dimensions");
  ATTND_CHECK_INPUT(expected_ndims <= 0 || ndims == expected_ndims, "IDX file ", path, " has ",
                    ndims, " dimensions, expected ", expected_ndims);

  IdxArray out;
  std::vector<uint8_t> dim_bytes(4 * static_cast<size_t>(ndims));
  ATTND_CHECK_INPUT(read_some(file.get(), dim_bytes.data(), dim_bytes.size(), path) ==
                        dim_bytes.size(),
                    "IDX file ", path, " is truncated in its dimension sizes");
  // Cap the total so a corrupt header cannot ask for absurd memory: 2^36 bytes = 64 GiB.
  constexpr uint64_t kMaxBytes = uint64_t{1} << 36;
  uint64_t total = 1;
  for (int d = 0; d < ndims; ++d) {
    const uint8_t* b = &dim_bytes[4 * static_cast<size_t>(d)];
    const uint64_t size = (uint64_t{b[0]} << 24) | (uint64_t{b[1]} << 16) | (uint64_t{b[2]} << 8) | b[3];
    out.dims.push_back(static_cast<int64_t>(size));
    // Checked before multiplying: 2^36 x 2^28 would wrap to 0 and pass, leaving dims that
    // promise data the array does not hold.
    ATTND_CHECK_INPUT(size == 0 || total <= kMaxBytes / size, "IDX file ", path,
                      " declares more than 2^36 bytes");
    total *= size;
  }

  // Checked against the file's size before allocating: deflate expands at most 1032:1, so a
  // header declaring more than that is corrupt (and would otherwise allocate it all).
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  const uint64_t most = ec ? kMaxBytes : file_size * 1032 + 1024;
  ATTND_CHECK_INPUT(total <= most, "IDX file ", path, " declares ", total, " data bytes (dims ",
                    [&] {
                      std::string d;
                      for (auto v : out.dims) d += (d.empty() ? "" : "x") + std::to_string(v);
                      return d;
                    }(),
                    "), more than its ", file_size, " bytes can hold (at most ", most, ")");
  out.data.resize(total);
  const size_t got = read_some(file.get(), out.data.data(), out.data.size(), path);
  ATTND_CHECK_INPUT(got == total, "IDX file ", path, " is truncated: its header declares ", total,
                    " data bytes, found ", got);
  uint8_t extra;
  ATTND_CHECK_INPUT(read_some(file.get(), &extra, 1, path) == 0, "IDX file ", path,
                    " has trailing bytes after the ", total, " data bytes its header declares");
  return out;
}

}  // namespace attnd
