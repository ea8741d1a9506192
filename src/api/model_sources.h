// Where the engine's model paths come from: every path of EngineOptions / EmbedderOptions is
// turned into a local one here, once, before anything is opened (an existing local path, or a
// Hugging Face repo id found in the hub cache: weights/hf_cache.h), and the variant is checked.
// Engine::load and ImageEmbedder::load call these, so the CLI, JSON requests and any other
// front end share them.
#pragma once
#include "ipadapter/embedder.h"
#include "ipadapter/engine.h"

namespace ipa {

EngineOptions with_local_model_paths(EngineOptions options);
EmbedderOptions with_local_model_paths(EmbedderOptions options);

}  // namespace ipa
