#include "formats/builtin_configs.h"

#include "base/error.h"

namespace ipa {

nlohmann::json builtin_config(const std::string& name) {
  const char* text = builtin_config_text(name);
  if (!text) throw Error("no built-in config '" + name + "'");
  return nlohmann::json::parse(text);
}

}  // namespace ipa
