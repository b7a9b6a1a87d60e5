#include "attnd/io/coco_json.h"

#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "attnd/core/error.h"
#include "attnd/io/json_file.h"

namespace attnd {

namespace {

using nlohmann::json;

// A value as the user wrote it, shortened, for "expected ..., got ..." messages.
std::string shown(const json& v) {
  std::string text = v.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

// The parts of a JSON path ("annotations[3].bbox") are built only when a message needs them.
std::string at(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}
std::string dot(const std::string& path, const char* key) {
  return path.empty() ? std::string(key) : path + "." + key;
}

// Reads values of one document, every failure naming the document and the path.
class Reader {
 public:
  explicit Reader(std::string what) : what_(std::move(what)) {}

  template <typename... Args>
  [[noreturn]] void fail(const std::string& path, Args&&... args) const {
    if (path.empty()) throw_input_error(what_, ": ", std::forward<Args>(args)...);
    throw_input_error(what_, ": ", path, ": ", std::forward<Args>(args)...);
  }

  const json& object(const json& v, const std::string& path) const {
    if (!v.is_object()) fail(path, "expected an object, got ", shown(v));
    return v;
  }
  const json& array(const json& v, const std::string& path) const {
    if (!v.is_array()) fail(path, "expected an array, got ", shown(v));
    return v;
  }
  const json& member(const json& obj, const std::string& path, const char* key) const {
    auto it = obj.find(key);
    if (it == obj.end()) fail(path, "missing key \"", key, "\"");
    return *it;
  }
  const json* optional(const json& obj, const char* key) const {
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }

  int64_t integer(const json& v, const std::string& path) const {
    if (v.is_number_integer()) {
      if (v.is_number_unsigned() &&
          v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
        fail(path, "expected an integer that fits 64 bits, got ", shown(v));
      return v.get<int64_t>();
    }
    // Python writers often give numpy floats: 3.0 is taken as 3, 3.5 is refused.
    if (v.is_number_float()) {
      const double x = v.get<double>();
      if (std::floor(x) == x && std::fabs(x) < 9.0e15) return static_cast<int64_t>(x);
    }
    fail(path, "expected an integer, got ", shown(v));
  }
  double number(const json& v, const std::string& path) const {
    if (!v.is_number()) fail(path, "expected a number, got ", shown(v));
    return v.get<double>();
  }
  std::string string(const json& v, const std::string& path) const {
    if (!v.is_string()) fail(path, "expected a string, got ", shown(v));
    return v.get<std::string>();
  }
  int64_t positive_integer(const json& v, const std::string& path) const {
    const int64_t x = integer(v, path);
    if (x <= 0) fail(path, "expected a positive integer, got ", x);
    return x;
  }
  bool flag(const json& v, const std::string& path) const {
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1))
      return v.get<int64_t>() == 1;
    fail(path, "expected 0, 1, true or false, got ", shown(v));
  }
  BoxXYWH box(const json& v, const std::string& path) const {
    if (!v.is_array()) fail(path, "expected 4 numbers [x, y, width, height], got ", shown(v));
    if (v.size() != 4) fail(path, "expected 4 numbers, got ", v.size());
    const BoxXYWH b{number(v[0], at(path, 0)), number(v[1], at(path, 1)), number(v[2], at(path, 2)),
                    number(v[3], at(path, 3))};
    if (b.w < 0 || b.h < 0) fail(path, "width and height must be ≥ 0, got ", b.w, " and ", b.h);
    return b;
  }

  // Remembers where each id was first seen, to name both places of a duplicate.
  void unique_id(std::map<int64_t, std::string>& seen, int64_t id, const std::string& path) const {
    auto [it, inserted] = seen.emplace(id, path);
    if (!inserted) fail(dot(path, "id"), id, " is already the id of ", it->second);
  }

 private:
  std::string what_;
};

json box_json(const BoxXYWH& b) { return json::array({b.x, b.y, b.w, b.h}); }

}  // namespace

CocoDataset parse_coco_instances(const json& doc, const std::string& what) {
  const Reader r(what);
  if (!doc.is_object())
    r.fail("", "expected an object with \"images\", \"annotations\" and \"categories\", got ",
           shown(doc));
  CocoDataset out;

  std::map<int64_t, std::string> image_ids;
  const json& images = r.array(r.member(doc, "", "images"), "images");
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string path = at("images", i);
    const json& v = r.object(images[i], path);
    CocoImage image;
    image.id = r.integer(r.member(v, path, "id"), dot(path, "id"));
    image.file_name = r.string(r.member(v, path, "file_name"), dot(path, "file_name"));
    image.width = r.positive_integer(r.member(v, path, "width"), dot(path, "width"));
    image.height = r.positive_integer(r.member(v, path, "height"), dot(path, "height"));
    r.unique_id(image_ids, image.id, path);
    out.images.push_back(std::move(image));
  }

  std::map<int64_t, std::string> category_ids;
  const json& categories = r.array(r.member(doc, "", "categories"), "categories");
  for (size_t i = 0; i < categories.size(); ++i) {
    const std::string path = at("categories", i);
    const json& v = r.object(categories[i], path);
    CocoCategory category;
    category.id = r.integer(r.member(v, path, "id"), dot(path, "id"));
    category.name = r.string(r.member(v, path, "name"), dot(path, "name"));
    if (const json* s = r.optional(v, "supercategory"))
      category.supercategory = r.string(*s, dot(path, "supercategory"));
    r.unique_id(category_ids, category.id, path);
    out.categories.push_back(std::move(category));
  }

  std::map<int64_t, std::string> annotation_ids;
  const json& annotations = r.array(r.member(doc, "", "annotations"), "annotations");
  for (size_t i = 0; i < annotations.size(); ++i) {
    const std::string path = at("annotations", i);
    const json& v = r.object(annotations[i], path);
    CocoAnnotation a;
    a.id = r.integer(r.member(v, path, "id"), dot(path, "id"));
    a.image_id = r.integer(r.member(v, path, "image_id"), dot(path, "image_id"));
    a.category_id = r.integer(r.member(v, path, "category_id"), dot(path, "category_id"));
    a.bbox = r.box(r.member(v, path, "bbox"), dot(path, "bbox"));
    a.area = area(a.bbox);
    if (const json* x = r.optional(v, "area")) {
      a.area = r.number(*x, dot(path, "area"));
      if (a.area < 0) r.fail(dot(path, "area"), "expected a number ≥ 0, got ", a.area);
    }
    if (const json* x = r.optional(v, "iscrowd")) a.iscrowd = r.flag(*x, dot(path, "iscrowd"));
    if (!image_ids.count(a.image_id))
      r.fail(dot(path, "image_id"), a.image_id, " is not the id of any image");
    if (!category_ids.count(a.category_id))
      r.fail(dot(path, "category_id"), a.category_id, " is not the id of any category");
    r.unique_id(annotation_ids, a.id, path);
    out.annotations.push_back(a);
  }
  return out;
}

CocoDataset read_coco_instances(const std::string& path) {
  return parse_coco_instances(read_json_file(path), path);
}

json coco_instances_json(const CocoDataset& dataset) {
  json images = json::array(), annotations = json::array(), categories = json::array();
  for (const auto& im : dataset.images)
    images.push_back(
        {{"id", im.id}, {"file_name", im.file_name}, {"width", im.width}, {"height", im.height}});
  for (const auto& a : dataset.annotations)
    annotations.push_back({{"id", a.id},
                           {"image_id", a.image_id},
                           {"category_id", a.category_id},
                           {"bbox", box_json(a.bbox)},
                           {"area", a.area},
                           {"iscrowd", a.iscrowd ? 1 : 0}});
  for (const auto& c : dataset.categories) {
    json category = {{"id", c.id}, {"name", c.name}};
    if (!c.supercategory.empty()) category["supercategory"] = c.supercategory;
    categories.push_back(std::move(category));
  }
  return {{"images", std::move(images)},
          {"annotations", std::move(annotations)},
          {"categories", std::move(categories)}};
}

void write_coco_instances(const std::string& path, const CocoDataset& dataset) {
  write_json_file(path, coco_instances_json(dataset));
}

std::vector<CocoDetection> parse_coco_results(const json& doc, const std::string& what) {
  const Reader r(what);
  if (!doc.is_array())
    r.fail("", "expected an array of {image_id, category_id, bbox, score}, got ", shown(doc));
  std::vector<CocoDetection> out;
  out.reserve(doc.size());
  for (size_t i = 0; i < doc.size(); ++i) {
    const std::string path = at("", i);
    const json& v = r.object(doc[i], path);
    CocoDetection d;
    d.image_id = r.integer(r.member(v, path, "image_id"), dot(path, "image_id"));
    d.category_id = r.integer(r.member(v, path, "category_id"), dot(path, "category_id"));
    d.bbox = r.box(r.member(v, path, "bbox"), dot(path, "bbox"));
    d.score = r.number(r.member(v, path, "score"), dot(path, "score"));
    out.push_back(d);
  }
  return out;
}

std::vector<CocoDetection> read_coco_results(const std::string& path) {
  return parse_coco_results(read_json_file(path), path);
}

json coco_results_json(const std::vector<CocoDetection>& detections) {
  json out = json::array();
  for (const auto& d : detections)
    out.push_back({{"image_id", d.image_id},
                   {"category_id", d.category_id},
                   {"bbox", box_json(d.bbox)},
                   {"score", d.score}});
  return out;
}

void write_coco_results(const std::string& path, const std::vector<CocoDetection>& detections) {
  write_json_file(path, coco_results_json(detections));
}

void check_results_fit(const std::vector<CocoDetection>& detections, const std::string& what,
                       const CocoDataset& dataset, const std::string& dataset_what) {
  std::set<int64_t> images, categories;
  for (const auto& im : dataset.images) images.insert(im.id);
  for (const auto& c : dataset.categories) categories.insert(c.id);
  for (size_t i = 0; i < detections.size(); ++i) {
    ATTND_CHECK_INPUT(images.count(detections[i].image_id), what, ": [", i,
                      "].image_id: ", detections[i].image_id, " is not the id of any image of ",
                      dataset_what);
    ATTND_CHECK_INPUT(categories.count(detections[i].category_id), what, ": [", i,
                      "].category_id: ", detections[i].category_id,
                      " is not the id of any category of ", dataset_what);
  }
}

}  // namespace attnd
