#include "formats/state_dict.h"

#include <unordered_set>

#include "base/error.h"

namespace ipa {

namespace {

using pickle::Kind;
using pickle::Object;

bool is_container(const Object* o) {
  return o->kind == Kind::Dict || o->kind == Kind::List || o->kind == Kind::Tuple ||
         o->kind == Kind::Tensor || o->kind == Kind::Array;
}

class Flattener {
 public:
  Flattener(const std::string& path, const StateDictLimits& limits)
      : path_(path), limits_(limits) {}

  std::vector<StateDictEntry> run(const Object& root) {
    if (root.kind != Kind::Dict) {
      throw Error(std::string("the pickled object is a ") + pickle::kind_name(root.kind) +
                      ", not a dict of tensors (state dict)",
                  path_);
    }
    walk(&root, "", 0);
    return std::move(out_);
  }

 private:
  std::string join(const std::string& prefix, const std::string& key) {
    std::string name = prefix.empty() ? key : prefix + "." + key;
    if (name.size() > limits_.max_name_bytes)
      throw Error("tensor name longer than " + std::to_string(limits_.max_name_bytes) + " bytes",
                  path_);
    total_name_bytes_ += name.size();
    if (total_name_bytes_ > limits_.max_total_name_bytes)
      throw Error("tensor names add up to more than " +
                      std::to_string(limits_.max_total_name_bytes) + " bytes",
                  path_);
    return name;
  }

  std::string key_text(const Object* key, const std::string& prefix) const {
    if (key->kind == Kind::String) return key->text;
    if (key->kind == Kind::Int) return std::to_string(key->integer);
    throw Error(std::string("a dict key of type ") + pickle::kind_name(key->kind) + " under '" +
                    prefix + "' leads to tensors; only string and integer keys can be named",
                path_);
  }

  void walk(const Object* o, const std::string& name, size_t depth) {
    if (++visits_ > limits_.max_visits)
      throw Error("the pickled object graph is too large to walk (more than " +
                      std::to_string(limits_.max_visits) + " visits; shared or cyclic containers?)",
                  path_);
    switch (o->kind) {
      case Kind::Tensor:
      case Kind::Array:
        emit(name, o);
        return;
      case Kind::Dict:
      case Kind::List:
      case Kind::Tuple:
        break;
      default:
        return;  // scalars, strings, storages: not tensors
    }
    if (depth >= limits_.max_depth)
      throw Error("dicts nested deeper than " + std::to_string(limits_.max_depth) + " levels",
                  path_);
    // A state dict is a tree. A container reachable twice (shared, or containing itself) is
    // refused here, which also keeps the walk linear in the number of objects.
    if (!walked_.insert(o).second)
      throw Error("the container at '" + name +
                      "' is reachable twice (shared or cyclic containers are not a state dict)",
                  path_);
    if (o->kind == Kind::Dict) {
      for (const auto& [k, v] : o->entries) {
        if (!is_container(v)) continue;
        walk(v, join(name, key_text(k, name)), depth + 1);
      }
    } else {
      for (size_t i = 0; i < o->items.size(); ++i) {
        if (!is_container(o->items[i])) continue;
        walk(o->items[i], join(name, std::to_string(i)), depth + 1);
      }
    }
  }

  void emit(const std::string& name, const Object* t) {
    if (name.empty()) throw Error("a tensor has an empty name", path_);
    if (out_.size() >= limits_.max_tensors)
      throw Error("more than " + std::to_string(limits_.max_tensors) + " tensors", path_);
    if (!seen_.insert(name).second) throw Error("two tensors are named '" + name + "'", path_);
    out_.push_back({name, t});
  }

  const std::string& path_;
  const StateDictLimits& limits_;
  size_t visits_ = 0;
  size_t total_name_bytes_ = 0;
  std::unordered_set<std::string> seen_;
  std::unordered_set<const Object*> walked_;
  std::vector<StateDictEntry> out_;
};

}  // namespace

std::vector<StateDictEntry> flatten_state_dict(const pickle::Object& root, const std::string& path,
                                               const StateDictLimits& limits) {
  return Flattener(path, limits).run(root);
}

}  // namespace ipa
