#include "model_catalog.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "ipadapter/error.h"
#include "ipadapter/inspect.h"

namespace fs = std::filesystem;

namespace ipa::server {

namespace {

constexpr int kMaxDepth = 8;
constexpr size_t kMaxModels = 1000;

bool is_weights_file(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".safetensors" || ext == ".bin" || ext == ".ckpt" || ext == ".pt" ||
         ext == ".pth" || ext == ".pdparams";
}

// inspect's absolute paths → relative to the models folder (answers never show server paths).
void relativise(nlohmann::json& j, const ModelRoot& root) {
  const std::string prefix = root.path().string() + "/";
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (s.rfind(prefix, 0) == 0) j = root.relative(s);
  } else if (j.is_structured()) {
    for (auto& v : j) relativise(v, root);
  }
}

}  // namespace

nlohmann::json ModelCatalog::scan() const {
  nlohmann::json models = nlohmann::json::array();
  bool truncated = false;
  auto add = [&](const fs::path& p) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(inspect_model(p.string(), InspectFormat::Json, false));
    } catch (const std::exception& e) {
      j = {{"kind", "unreadable"}, {"error", e.what()}};
    }
    relativise(j, root_);
    j["path"] = root_.relative(p);
    // For the page's adapter picker: the width a pipeline's adapters must have.
    if (j.value("kind", "") == "diffusers-pipeline") {
      try {
        std::ifstream in(p / "unet" / "config.json");
        const nlohmann::json unet = nlohmann::json::parse(in);
        if (unet.contains("cross_attention_dim")) {
          j["cross_attention_dim"] = unet["cross_attention_dim"];
        }
      } catch (const std::exception&) {
      }
    }
    models.push_back(std::move(j));
  };
  std::error_code ec;
  fs::recursive_directory_iterator it(root_.path(), fs::directory_options::skip_permission_denied,
                                      ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (models.size() >= kMaxModels) {
      truncated = true;
      break;
    }
    const fs::path p = it->path();
    std::error_code ec2;
    // Links are listed only when they stay inside the folder (as requests resolve them).
    const fs::path real = fs::canonical(p, ec2);
    if (ec2 || real.lexically_relative(root_.path()).begin()->string() == "..") {
      if (it->is_directory(ec2)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory(ec2)) {
      const bool pipeline = fs::is_regular_file(p / "model_index.json", ec2);
      const bool model = fs::is_regular_file(p / "config.json", ec2);
      if (pipeline || model) {
        add(p);
        it.disable_recursion_pending();
      } else if (it.depth() >= kMaxDepth) {
        it.disable_recursion_pending();
      }
    } else if (is_weights_file(p) && fs::is_regular_file(p, ec2)) {
      add(p);
    }
  }
  std::sort(models.begin(), models.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return a["path"].get<std::string>() < b["path"].get<std::string>();
  });
  return {{"models", models}, {"truncated", truncated}};
}

nlohmann::json ModelCatalog::list(bool refresh) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (refresh || !cached_) cached_ = scan();
  return *cached_;
}

}  // namespace ipa::server
