// ipadapter.cpp public API: the file formats callers need around the engine — images in (PNG,
// JPEG, WebP, decoded as PIL does), PNGs out with text chunks, and float arrays in safetensors
// files (initial latents in, latents and embeddings out).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ipadapter/image.h"
#include "ipadapter/types.h"

namespace ipa {

// The format comes from the magic bytes; EXIF orientation is applied (diffusers' load_image).
// Errors name the file.
image::Image read_image(const std::string& path);
image::Image decode_image(const uint8_t* data, size_t size, const std::string& name);
// The same with a tighter limit on width x height, refused from the header before any pixel is
// decoded (untrusted uploads: the server).
image::Image decode_image(const uint8_t* data, size_t size, const std::string& name,
                          int64_t max_pixels);

// PNG with text chunks (keyword, text), e.g. {"parameters", generation_parameters(...)}.
void write_png(const std::string& path, const image::Image& image,
               const std::vector<std::pair<std::string, std::string>>& text = {});
// The same PNG in memory.
std::vector<uint8_t> encode_png(const image::Image& image,
                                const std::vector<std::pair<std::string, std::string>>& text = {});

// Every floating-point tensor of a .safetensors / .bin / .ckpt file as float32, by name.
std::map<std::string, FloatArray> read_float_arrays(const std::string& path);
// A safetensors file of float32 tensors, with optional string metadata.
void write_float_arrays(const std::string& path,
                        const std::vector<std::pair<std::string, FloatArray>>& arrays,
                        const std::map<std::string, std::string>& metadata = {});

}  // namespace ipa
