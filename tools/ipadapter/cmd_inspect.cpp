// `ipadapter inspect PATH [--json]`: tensors, dtypes, shapes and what the file or folder is.
#include <cstdio>

#include "commands.h"
#include "ipadapter/inspect.h"

namespace ipa::cli {
namespace {

struct InspectFlags {
  std::string path;
  bool json = false;
  bool no_tensors = false;
};

const bool registered =
    register_command("inspect", "Describe a checkpoint file or model folder", [](CLI::App& sub) {
      auto f = std::make_shared<InspectFlags>();
      sub.add_option("path", f->path, "File (.safetensors, .bin, .ckpt, .pt, .pdparams) or folder")
          ->required();
      sub.add_flag("--json", f->json, "Print one JSON object");
      sub.add_flag("--no-tensors", f->no_tensors, "Omit the per-tensor list");
      return [f] {
        std::fputs(inspect_model(f->path, f->json ? InspectFormat::Json : InspectFormat::Text,
                                 !f->no_tensors)
                       .c_str(),
                   stdout);
        return 0;
      };
    });

}  // namespace
}  // namespace ipa::cli
