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
  std::string revision;
};

const bool registered =
    register_command("inspect", "Describe a checkpoint file or model folder", [](CLI::App& sub) {
      auto f = std::make_shared<InspectFlags>();
      sub.add_option("path", f->path,
                     "File (.safetensors, .bin, .ckpt, .pt, .pdparams) or folder, or a Hugging "
                     "Face repo id "
                     "(+ path inside the repo) in the local cache")
          ->required();
      sub.add_flag("--json", f->json, "Print one JSON object");
      sub.add_flag("--no-tensors", f->no_tensors, "Omit the per-tensor list");
      sub.add_option("--revision", f->revision,
                     "Revision when PATH is a Hugging Face repo id: branch, tag or commit hash");
      return [f] {
        std::fputs(inspect_model(f->path, f->json ? InspectFormat::Json : InspectFormat::Text,
                                 !f->no_tensors, f->revision)
                       .c_str(),
                   stdout);
        return 0;
      };
    });

}  // namespace
}  // namespace ipa::cli
