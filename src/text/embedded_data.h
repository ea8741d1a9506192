// Data files compiled into the program. The definitions are generated at build time by
// tools/embed_data from data/ (see cmake/embed_vocab.cmake); contents are zlib-compressed.
#pragma once
#include <cstddef>
#include <string>

namespace ipa::text {

struct EmbeddedBlob {
  const char* zdata;  // zlib stream
  size_t zsize;       // its length in bytes
  size_t size;        // length of the original file
};

// data/clip_vocab/vocab.json and merges.txt: openai/CLIP's BPE vocabulary (SD1.5, SDXL).
extern const EmbeddedBlob kEmbeddedClipVocab;
extern const EmbeddedBlob kEmbeddedClipMerges;

// The original file content (throws ipa::Error if the blob does not inflate to its size).
std::string inflate_blob(const EmbeddedBlob& blob);

}  // namespace ipa::text
