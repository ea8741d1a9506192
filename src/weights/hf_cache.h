// Models named by Hugging Face repo id, found in the local hub cache that huggingface_hub (and
// so diffusers and transformers) fills. Nothing is ever downloaded.
//
// Cache layout: <cache>/models--<org>--<name>/{refs/<branch or tag> (a commit hash),
// snapshots/<commit>/<files> (usually symlinks into blobs/)}.
#pragma once
#include <string>

namespace ipa {

// The hub cache folder as huggingface_hub finds it: HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE
// (its older name), else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub.
std::string hf_hub_cache_dir();

// Whether `source` has the shape of a repo id, optionally with a path inside the repo:
// "org/name", "name", "org/name/sub/file.safetensors" (relative, no "." / ".." parts, repo
// names of letters, digits, '-', '_', '.').
bool looks_like_repo_id(const std::string& source);

// A model path as a user gave it (any option that names a model file or folder) → the local
// path to open. An existing file or folder is returned unchanged: a local path always wins; so is
// a path that cannot be a repo id (absolute, "./", "../"), for its loader to report, and an empty
// one (not given).
// Otherwise a repo id ("runwayml/stable-diffusion-v1-5", or "h94/IP-Adapter/models/
// ip-adapter_sd15.safetensors" with the path inside the repo) is looked up in the hub cache
// (`hub_cache`, empty = hf_hub_cache_dir()) at `revision`: a branch or tag name read from
// refs/, or a commit hash naming a snapshot; empty = "main". Throws ipa::Error naming `option`
// (e.g. "--base") and the source, listing every path searched, when nothing is found.
std::string resolve_model_source(const std::string& source, const std::string& revision = "",
                                 const std::string& option = "", const std::string& hub_cache = "");

}  // namespace ipa
