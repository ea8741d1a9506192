// `ipadapter inspect PATH [--json]`: tensors, dtypes, shapes and what the file or folder is.
#include <cstdio>

#include "commands.h"
#include "inspect/inspect.h"

namespace ipa::cli {
namespace {

struct InspectOptions {
  std::string path;
  bool json = false;
  bool no_tensors = false;
};

const bool registered =
    register_command("inspect", "Describe a checkpoint file or model folder", [](CLI::App& sub) {
      auto opts = std::make_shared<InspectOptions>();
      sub.add_option("path", opts->path, "File (.safetensors, .bin, .ckpt, .pt) or folder")
          ->required();
      sub.add_flag("--json", opts->json, "Print one JSON object");
      sub.add_flag("--no-tensors", opts->no_tensors, "Omit the per-tensor list");
      return [opts] {
        const auto report = inspect_path(opts->path, !opts->no_tensors);
        if (opts->json) {
          std::printf("%s\n", report.dump(1).c_str());
        } else {
          std::printf("%s", inspect_to_text(report).c_str());
        }
        return 0;
      };
    });

}  // namespace
}  // namespace ipa::cli
