// Turns an unpickled state dict (nested dicts of torch tensors or numpy arrays) into dotted
// tensor names:
// {"image_proj": {"proj.weight": T}} → "image_proj.proj.weight". Lists and tuples of tensors
// are indexed ("x.0"); scalars and strings (epoch, global_step, ...) are skipped.
#pragma once
#include <string>
#include <vector>

#include "formats/pickle.h"

namespace ipa {

struct StateDictEntry {
  std::string name;
  const pickle::Object* tensor;  // Kind::Tensor (torch) or Kind::Array (numpy)
};

struct StateDictLimits {
  size_t max_depth = 64;
  size_t max_tensors = 1u << 20;
  size_t max_visits = 4u << 20;  // objects walked
  size_t max_name_bytes = 4096;
  size_t max_total_name_bytes = 64u << 20;  // all names built while walking
};

// Throws ipa::Error (naming `path`) when the root is not a dict, a key that leads to tensors is
// neither a string nor an integer, a container is reachable twice (shared or cyclic), two
// tensors flatten to the same name, or a limit is hit. One tensor may appear under two names.
std::vector<StateDictEntry> flatten_state_dict(const pickle::Object& root, const std::string& path,
                                               const StateDictLimits& limits = StateDictLimits{});

}  // namespace ipa
