#include "attnd/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <torch/torch.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "attnd/core/error.h"
#include "attnd/core/torch_compat.h"
#include "attnd/io/atomic_file.h"
#include "attnd/io/json_file.h"
#include "attnd/io/json_limits.h"

// safetensors data is little-endian and is copied byte for byte into tensors.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "attnd assumes a little-endian host");

namespace attnd {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr uint64_t kMaxHeaderSize = 100'000'000;  // the reference reader's limit

// Every dtype of the format, with its size in bits.
struct FormatDtype {
  const char* name;
  int bits;
};
constexpr FormatDtype kFormatDtypes[] = {
    {"BOOL", 8},     {"F4", 4},      {"F6_E2M3", 6},  {"F6_E3M2", 6}, {"U8", 8},
    {"I8", 8},       {"F8_E5M2", 8}, {"F8_E4M3", 8},  {"F8_E8M0", 8}, {"I16", 16},
    {"U16", 16},     {"F16", 16},    {"BF16", 16},    {"I32", 32},    {"U32", 32},
    {"F32", 32},     {"C64", 64},    {"F64", 64},     {"I64", 64},    {"U64", 64},
};

// The dtypes this LibTorch has. Float8 arrived in 2.1 and uint16/32/64 in 2.3; F4/F6/F8_E8M0
// are packed or exotic and left out on every version.
struct TorchDtype {
  const char* name;
  torch::ScalarType type;
};
const std::vector<TorchDtype>& torch_dtypes() {
  static const std::vector<TorchDtype> table = {
      {"BOOL", torch::kBool},   {"U8", torch::kByte},         {"I8", torch::kChar},
      {"I16", torch::kShort},   {"I32", torch::kInt},         {"I64", torch::kLong},
      {"F16", torch::kHalf},    {"BF16", torch::kBFloat16},   {"F32", torch::kFloat},
      {"F64", torch::kDouble},  {"C64", torch::kComplexFloat},
#if ATTND_TORCH_AT_LEAST(2, 1)
      {"F8_E5M2", c10::ScalarType::Float8_e5m2}, {"F8_E4M3", c10::ScalarType::Float8_e4m3fn},
#endif
#if ATTND_TORCH_AT_LEAST(2, 3)
      {"U16", c10::ScalarType::UInt16}, {"U32", c10::ScalarType::UInt32},
      {"U64", c10::ScalarType::UInt64},
#endif
  };
  return table;
}

const TorchDtype* find_torch_dtype(const std::string& name) {
  for (const auto& d : torch_dtypes())
    if (name == d.name) return &d;
  return nullptr;
}

std::string format_dtype_list() {
  std::string out;
  for (const auto& d : kFormatDtypes) {
    if (!out.empty()) out += ", ";
    out += d.name;
  }
  return out;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

std::string offsets_str(const SafetensorsTensorInfo& t) {
  return "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
}

// Offset of the first byte that is not valid UTF-8 (overlong forms, surrogates and code points
// above U+10FFFF are invalid, as in Rust's str::from_utf8), or npos.
size_t find_invalid_utf8(std::string_view s) {
  auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t min;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000, cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

// Parses JSON and rejects a key repeated within one object: nlohmann keeps the last duplicate
// silently, but a file with two entries for one name is ambiguous.
json parse_json_rejecting_duplicates(std::string_view text, const std::string& what) {
  std::vector<std::set<std::string>> keys;  // one set per open object
  json::parser_callback_t callback = [&](int /*depth*/, json::parse_event_t event,
                                         json& parsed) {
    if (event == json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (event == json::parse_event_t::key && !keys.empty()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!keys.back().insert(key).second)
        throw_input_error(what, ": duplicate key \"", key,
                          "\" in the header (each name may appear only once)");
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::parse_error& e) {
    std::string detail = e.what();
    auto close = detail.find("] ");
    if (close != std::string::npos) detail = detail.substr(close + 2);
    throw_input_error(what, ": header is not valid JSON (", detail, ")");
  } catch (const json::out_of_range& e) {
    throw_input_error(what, ": header is not valid JSON (", e.what(), ")");
  }
}

bool is_non_negative_integer(const json& j) { return j.is_number_unsigned(); }

SafetensorsTensorInfo parse_entry(const std::string& name, const json& value,
                                  const std::string& src) {
  SafetensorsTensorInfo info;
  info.name = name;
  const std::string tensor = src + ": tensor '" + name + "'";
  ATTND_CHECK_INPUT(value.is_object(), tensor,
                    " is not an object (expected {\"dtype\": ..., \"shape\": [...], "
                    "\"data_offsets\": [begin, end]})");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    ATTND_CHECK_INPUT(value.contains(field), tensor, " has no \"", field, "\" field");

  const json& dtype = value["dtype"];
  ATTND_CHECK_INPUT(dtype.is_string(), tensor, ": \"dtype\" must be a string such as \"F32\"");
  info.dtype = dtype.get<std::string>();
  ATTND_CHECK_INPUT(safetensors_dtype_bits(info.dtype) > 0, tensor, " has unknown dtype '",
                    info.dtype, "' (expected one of ", format_dtype_list(), ")");

  const json& shape = value["shape"];
  ATTND_CHECK_INPUT(shape.is_array(), tensor,
                    ": \"shape\" must be an array of non-negative integers");
  for (const auto& d : shape) {
    ATTND_CHECK_INPUT(is_non_negative_integer(d), tensor,
                      ": \"shape\" must be an array of non-negative integers, found ", d.dump());
    uint64_t v = d.get<uint64_t>();
    ATTND_CHECK_INPUT(v <= static_cast<uint64_t>(INT64_MAX), tensor, ": shape dimension ", v,
                      " overflows a 64-bit size");
    info.shape.push_back(static_cast<int64_t>(v));
  }

  const json& offsets = value["data_offsets"];
  ATTND_CHECK_INPUT(offsets.is_array() && offsets.size() == 2 &&
                        is_non_negative_integer(offsets[0]) && is_non_negative_integer(offsets[1]),
                    tensor, ": \"data_offsets\" must be [begin, end], two non-negative integers, "
                    "found ", offsets.dump());
  info.begin = offsets[0].get<uint64_t>();
  info.end = offsets[1].get<uint64_t>();
  return info;
}

// Checks every structural rule of the reference reader on the header text; file_size is the
// size of the whole file (or buffer).
SafetensorsHeader parse_header(std::string_view text, uint64_t file_size, const std::string& src) {
  // nlohmann's lexer takes a NUL byte for the end of the input; in JSON it is never valid.
  size_t nul = text.find('\0');
  ATTND_CHECK_INPUT(nul == std::string_view::npos, src,
                    ": header is not valid JSON (NUL byte at header offset ", nul, ")");
  size_t bad = find_invalid_utf8(text);
  ATTND_CHECK_INPUT(bad == std::string_view::npos, src,
                    ": header is not valid UTF-8 (bad byte at header offset ", bad, ")");
  // nlohmann skips a byte-order mark silently; the reference reader refuses it.
  ATTND_CHECK_INPUT(text.substr(0, 3) != "\xEF\xBB\xBF", src,
                    ": header starts with a UTF-8 byte-order mark (EF BB BF); expected the JSON "
                    "object's '{' as its first byte");
  check_json_text(text, src + ": header");
  json j = parse_json_rejecting_duplicates(text, src);
  ATTND_CHECK_INPUT(j.is_object(), src, ": header is not a JSON object (found ", j.type_name(),
                    "; expected {\"tensor name\": {\"dtype\", \"shape\", \"data_offsets\"}, ...})");

  SafetensorsHeader header;
  header.header_size = text.size();
  header.file_size = file_size;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      // The reference reader takes an optional map of strings; null means none.
      if (it->is_null()) continue;
      ATTND_CHECK_INPUT(it->is_object(), src,
                        ": \"__metadata__\" must be an object of strings, found ",
                        it->type_name());
      for (auto m = it->begin(); m != it->end(); ++m) {
        ATTND_CHECK_INPUT(m->is_string(), src, ": \"__metadata__\" must be an object of strings, "
                          "but \"", m.key(), "\" is ", m->type_name());
        header.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    header.tensors.push_back(parse_entry(it.key(), it.value(), src));
  }

  // Ranges sorted by (begin, end) must tile [0, data_size) exactly.
  std::vector<const SafetensorsTensorInfo*> by_offset;
  for (const auto& t : header.tensors) by_offset.push_back(&t);
  std::stable_sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) {
    return std::make_pair(a->begin, a->end) < std::make_pair(b->begin, b->end);
  });
  uint64_t data_end = 0;
  const SafetensorsTensorInfo* previous = nullptr;
  for (const auto* t : by_offset) {
    const std::string tensor = src + ": tensor '" + t->name + "'";
    ATTND_CHECK_INPUT(t->end >= t->begin, tensor, " has data_offsets ", offsets_str(*t),
                      " with end before begin");
    if (previous == nullptr) {
      ATTND_CHECK_INPUT(t->begin == 0, tensor, " has data_offsets ", offsets_str(*t),
                        ", but the data of the first tensor must start at 0");
    } else {
      ATTND_CHECK_INPUT(t->begin <= data_end, src, ": gap of ", t->begin - data_end,
                        " bytes before tensor '", t->name, "' (data_offsets ", offsets_str(*t),
                        "; tensor '", previous->name, "' ends at ", data_end,
                        "; expected contiguous data)");
      ATTND_CHECK_INPUT(t->begin >= data_end, tensor, " (data_offsets ", offsets_str(*t),
                        ") overlaps tensor '", previous->name, "', which ends at ", data_end);
    }
    uint64_t numel = 1;
    for (int64_t d : t->shape) {
      ATTND_CHECK_INPUT(!__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel), tensor,
                        ": the element count of shape ", shape_str(t->shape), " overflows");
    }
    ATTND_CHECK_INPUT(numel <= static_cast<uint64_t>(INT64_MAX), tensor,
                      ": the element count of shape ", shape_str(t->shape), " overflows");
    uint64_t bits = 0;
    ATTND_CHECK_INPUT(
        !__builtin_mul_overflow(numel, static_cast<uint64_t>(safetensors_dtype_bits(t->dtype)),
                                &bits),
        tensor, ": the byte size of shape ", shape_str(t->shape), " in ", t->dtype,
        " overflows");
    ATTND_CHECK_INPUT(bits % 8 == 0, tensor, ": ", numel, " elements of ", t->dtype,
                      " do not fill a whole number of bytes");
    ATTND_CHECK_INPUT(t->end - t->begin == bits / 8, tensor, " has data_offsets ",
                      offsets_str(*t), " (", t->end - t->begin, " bytes), but dtype ", t->dtype,
                      " and shape ", shape_str(t->shape), " need ", bits / 8, " bytes");
    data_end = t->end;
    previous = t;
  }

  uint64_t expected = 0;
  bool overflow = __builtin_add_overflow(data_end, 8 + header.header_size, &expected);
  ATTND_CHECK_INPUT(!overflow && expected <= file_size, src,
                    ": file is truncated: the header says the data ends at file byte ",
                    overflow ? std::string("(overflow)") : std::to_string(expected),
                    ", but the file has ", file_size, " bytes");
  ATTND_CHECK_INPUT(expected == file_size, src, ": file has ", file_size - expected,
                    " bytes after the end of the last tensor (expected the file to end at byte ",
                    expected, ")");

  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return header;
}

// Reads the 8-byte header length and checks it against the file size.
uint64_t header_length(const unsigned char* first8, uint64_t file_size, const std::string& src) {
  ATTND_CHECK_INPUT(file_size >= 8, src, ": file is ", file_size,
                    " bytes, too small for a safetensors file (expected at least the 8-byte "
                    "header length)");
  uint64_t n = 0;
  std::memcpy(&n, first8, 8);  // little-endian host
  ATTND_CHECK_INPUT(n <= kMaxHeaderSize, src, ": header length ", n, " exceeds the limit of ",
                    kMaxHeaderSize, " bytes (not a safetensors file?)");
  ATTND_CHECK_INPUT(8 + n <= file_size, src, ": header length ", n,
                    " runs past the end of the file (", file_size, " bytes)");
  return n;
}

// Open file descriptor with RAII; InputError for a missing file or a directory.
class FileHandle {
 public:
  explicit FileHandle(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
      throw_input_error("cannot open '", path, "': ", std::strerror(errno),
                        " (expected a .safetensors file)");
    struct stat st {};
    if (::fstat(fd_, &st) != 0) throw_error("cannot stat '", path, "': ", std::strerror(errno));
    if (S_ISDIR(st.st_mode)) {
      ::close(fd_);
      fd_ = -1;
      throw_input_error("'", path, "' is a directory, expected a .safetensors file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~FileHandle() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
};

void pread_all(int fd, void* buf, size_t size, uint64_t offset, const std::string& path) {
  auto* p = static_cast<char*>(buf);
  while (size > 0) {
    ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_error("cannot read '", path, "': ", std::strerror(errno));
    if (n == 0) throw_input_error("'", path, "' ended early (was it truncated while reading?)");
    p += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
}

// Header metadata of one tensor to write, in file order.
struct PlannedTensor {
  const std::string* name;
  const torch::Tensor* tensor;
  std::string dtype;
  int64_t element_size;
  uint64_t nbytes;
};

// Returns the 8-byte length + padded header, and the tensors in data order: larger elements
// first (keeps every tensor aligned to its element size), then by name.
std::string plan(const TensorMap& tensors, const SafetensorsMetadata& metadata,
                 std::vector<PlannedTensor>* order) {
  for (const auto& [name, t] : tensors) {
    ATTND_CHECK_INPUT(t.defined(), "cannot write tensor '", name, "' to safetensors: undefined");
    ATTND_CHECK_INPUT(name != "__metadata__",
                      "cannot write a tensor named \"__metadata__\" (reserved by safetensors)");
    order->push_back({&name, &t, safetensors_dtype_name(t.scalar_type()),
                      static_cast<int64_t>(t.element_size()),
                      static_cast<uint64_t>(t.numel()) * t.element_size()});
  }
  std::stable_sort(order->begin(), order->end(), [](const auto& a, const auto& b) {
    if (a.element_size != b.element_size) return a.element_size > b.element_size;
    return *a.name < *b.name;
  });

  // ordered_json keeps the reference layout: "__metadata__" first, then tensors in data order.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  uint64_t offset = 0;
  for (const auto& p : *order) {
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = p.dtype;
    entry["shape"] = p.tensor->sizes().vec();
    entry["data_offsets"] = {offset, offset + p.nbytes};
    header[*p.name] = entry;
    offset += p.nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::type_error& e) {
    throw_input_error("cannot write safetensors: a tensor name or metadata string is not valid "
                      "UTF-8 (", e.what(), ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-aligned
  uint64_t n = text.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + text;
}

// A CPU, contiguous, dense copy-or-view of one planned tensor (one at a time, so a model on the
// GPU never needs a second full copy in host memory).
torch::Tensor cpu_contiguous(const torch::Tensor& t) {
  torch::Tensor out = t.detach();
  if (out.is_complex()) out = out.resolve_conj();
  return out.to(torch::kCPU).contiguous();
}

}  // namespace

int safetensors_dtype_bits(const std::string& dtype) {
  for (const auto& d : kFormatDtypes)
    if (dtype == d.name) return d.bits;
  return 0;
}

std::string safetensors_dtype_name(torch::ScalarType type) {
  for (const auto& d : torch_dtypes())
    if (d.type == type) return d.name;
  throw_input_error("dtype ", c10::toString(type), " cannot be stored in a safetensors file");
}

int64_t SafetensorsTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated not to overflow when the header was read
  return n;
}

SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& source) {
  const auto* base = reinterpret_cast<const unsigned char*>(bytes.data());
  uint64_t n = header_length(base, bytes.size(), source);
  SafetensorsHeader header =
      parse_header(std::string_view(bytes.data() + 8, n), bytes.size(), source);

  SafetensorsFile file;
  file.metadata = std::move(header.metadata);
  const unsigned char* data = base + 8 + n;
  for (const auto& info : header.tensors) {
    const TorchDtype* d = find_torch_dtype(info.dtype);
    ATTND_CHECK_INPUT(d != nullptr, source, ": tensor '", info.name, "' has dtype ", info.dtype,
                      ", which is not supported by LibTorch ", compat::torch_version());
    // Always copy into an owned tensor: the data may sit at any offset (old writers did not
    // align), and the tensors outlive the mapping or buffer they came from.
    torch::Tensor t = torch::empty(info.shape, torch::TensorOptions().dtype(d->type));
    if (info.nbytes() > 0) std::memcpy(t.data_ptr(), data + info.begin, info.nbytes());
    if (d->type == torch::kBool) {
      const unsigned char* b = data + info.begin;
      for (uint64_t i = 0; i < info.nbytes(); ++i)
        ATTND_CHECK_INPUT(b[i] <= 1, source, ": BOOL tensor '", info.name, "' holds byte value ",
                          int(b[i]), " at element ", i, " (expected 0 or 1)");
    }
    file.tensors.emplace(info.name, std::move(t));
  }
  return file;
}

SafetensorsFile read_safetensors(const std::string& path) {
  FileHandle file(path);
  if (file.size() < 8) {  // mmap of an empty file fails; give the format's error instead
    unsigned char first8[8] = {};
    header_length(first8, file.size(), path);
  }
  // mmap, then copy each tensor out in parse_safetensors: one copy from the page cache, and no
  // tensor keeps the mapping alive (a file replaced or truncated later cannot SIGBUS a tensor).
  void* map = ::mmap(nullptr, file.size(), PROT_READ, MAP_PRIVATE, file.fd(), 0);
  if (map == MAP_FAILED) throw_error("cannot map '", path, "': ", std::strerror(errno));
  struct Unmap {
    void* p;
    size_t n;
    ~Unmap() { ::munmap(p, n); }
  } unmap{map, file.size()};
  return parse_safetensors(std::string_view(static_cast<const char*>(map), file.size()), path);
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  FileHandle file(path);
  unsigned char first8[8] = {};
  if (file.size() >= 8) pread_all(file.fd(), first8, 8, 0, path);
  uint64_t n = header_length(first8, file.size(), path);
  std::string text(n, '\0');
  pread_all(file.fd(), text.data(), n, 8, path);
  return parse_header(text, file.size(), path);
}

std::string serialize_safetensors(const TensorMap& tensors, const SafetensorsMetadata& metadata) {
  std::vector<PlannedTensor> order;
  std::string out = plan(tensors, metadata, &order);
  uint64_t total = out.size();
  for (const auto& p : order) total += p.nbytes;
  out.reserve(total);
  for (const auto& p : order) {
    torch::Tensor t = cpu_contiguous(*p.tensor);
    out.append(static_cast<const char*>(t.data_ptr()), p.nbytes);
  }
  return out;
}

void write_safetensors(const std::string& path, const TensorMap& tensors,
                       const SafetensorsMetadata& metadata) {
  std::vector<PlannedTensor> order;
  std::string head = plan(tensors, metadata, &order);
  AtomicFile file(path);
  file.write(head);
  for (const auto& p : order) {
    torch::Tensor t = cpu_contiguous(*p.tensor);
    if (p.nbytes > 0) file.write(t.data_ptr(), p.nbytes);
  }
  file.commit();
}

namespace {

struct ShardIndex {
  fs::path index_path;
  std::map<std::string, std::string> weight_map;  // tensor → shard file name
};

ShardIndex read_shard_index(const std::string& dir_or_index) {
  ShardIndex index;
  fs::path p(dir_or_index);
  std::error_code ec;
  index.index_path = fs::is_directory(p, ec) ? p / "model.safetensors.index.json" : p;
  ATTND_CHECK_INPUT(fs::exists(index.index_path, ec), "'", index.index_path.string(),
                    "' does not exist (expected a sharded checkpoint index "
                    "model.safetensors.index.json)");
  json j = read_json_file(index.index_path.string());
  const std::string src = index.index_path.string();
  ATTND_CHECK_INPUT(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(), src,
                    ": expected an object with a \"weight_map\" object (tensor name → shard file)");
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    ATTND_CHECK_INPUT(it->is_string(), src, ": weight_map[\"", it.key(),
                      "\"] must be a shard file name, found ", it->type_name());
    std::string shard = it->get<std::string>();
    fs::path sp(shard);
    bool plain = !shard.empty() && sp.is_relative();
    for (const auto& part : sp) plain = plain && part != "..";
    ATTND_CHECK_INPUT(plain, src, ": weight_map[\"", it.key(), "\"] = \"", shard,
                      "\" must be a file name next to the index");
    index.weight_map[it.key()] = shard;
  }
  return index;
}

}  // namespace

std::vector<std::string> safetensors_index_shards(const std::string& dir_or_index) {
  ShardIndex index = read_shard_index(dir_or_index);
  std::set<std::string> shards;
  for (const auto& kv : index.weight_map) shards.insert(kv.second);
  std::vector<std::string> out;
  for (const auto& s : shards) out.push_back((index.index_path.parent_path() / s).string());
  return out;
}

TensorMap read_safetensors_sharded(const std::string& dir_or_index) {
  ShardIndex index = read_shard_index(dir_or_index);
  const std::string src = index.index_path.string();
  std::map<std::string, std::vector<std::string>> by_shard;
  for (const auto& [name, shard] : index.weight_map) by_shard[shard].push_back(name);

  for (const auto& [shard, names] : by_shard) {  // all missing-shard errors before any reading
    fs::path shard_path = index.index_path.parent_path() / shard;
    std::error_code ec;
    ATTND_CHECK_INPUT(fs::exists(shard_path, ec), src, ": shard '", shard_path.string(),
                      "' (holding tensor '", names.front(), "' and ", names.size() - 1,
                      " more) is missing");
  }
  TensorMap out;
  for (const auto& [shard, names] : by_shard) {
    fs::path shard_path = index.index_path.parent_path() / shard;
    SafetensorsFile file = read_safetensors(shard_path.string());
    for (const auto& name : names) {
      auto it = file.tensors.find(name);
      ATTND_CHECK_INPUT(it != file.tensors.end(), src, ": tensor '", name,
                        "' is mapped to shard '", shard, "', which does not contain it");
      out.emplace(name, std::move(it->second));
      file.tensors.erase(it);
    }
    if (!file.tensors.empty()) {
      const std::string& extra = file.tensors.begin()->first;
      auto listed = index.weight_map.find(extra);
      if (listed == index.weight_map.end())
        throw_input_error(shard_path.string(), ": tensor '", extra,
                          "' is not listed in the weight_map of ", src);
      throw_input_error(shard_path.string(), ": holds tensor '", extra, "', which the weight_map of ",
                        src, " assigns to shard '", listed->second, "'");
    }
  }
  return out;
}

}  // namespace attnd
