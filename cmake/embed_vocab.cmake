# Compiles the CLIP vocabulary (data/clip_vocab) into the text layer (ipa_text): a small host tool
# compresses the files and writes a C++ source defining the blobs of src/text/embedded_data.h.
add_executable(ipa_embed_data ${CMAKE_SOURCE_DIR}/tools/embed_data/embed_data.cpp)
target_link_libraries(ipa_embed_data PRIVATE ZLIB::ZLIB ipa_warnings)

set(IPA_CLIP_VOCAB_FILES
  ${CMAKE_SOURCE_DIR}/data/clip_vocab/vocab.json
  ${CMAKE_SOURCE_DIR}/data/clip_vocab/merges.txt)
set(IPA_CLIP_VOCAB_CPP ${CMAKE_BINARY_DIR}/generated/clip_vocab_data.cpp)
add_custom_command(
  OUTPUT ${IPA_CLIP_VOCAB_CPP}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/generated
  COMMAND ipa_embed_data ${IPA_CLIP_VOCAB_CPP}
          kEmbeddedClipVocab ${CMAKE_SOURCE_DIR}/data/clip_vocab/vocab.json
          kEmbeddedClipMerges ${CMAKE_SOURCE_DIR}/data/clip_vocab/merges.txt
  DEPENDS ipa_embed_data ${IPA_CLIP_VOCAB_FILES}
  COMMENT "Embedding the CLIP vocabulary"
  VERBATIM)
target_sources(ipa_text PRIVATE ${IPA_CLIP_VOCAB_CPP})
