#include "adapter/adapter_info.h"

#include <set>

namespace ipa {

const char* variant_name(AdapterVariant v) {
  switch (v) {
    case AdapterVariant::Basic:
      return "basic";
    case AdapterVariant::Plus:
      return "plus";
    case AdapterVariant::FullFace:
      return "full-face";
  }
  return "?";
}

bool looks_like_ip_adapter(const WeightStore& ws) {
  return !ws.keys_with_prefix("image_proj.").empty() && !ws.keys_with_prefix("ip_adapter.").empty();
}

namespace {

template <typename Store>
int64_t dim_of(const Store& ws, const std::string& name, size_t rank, size_t index,
               const std::string& path) {
  const Shape s = ws.shape_of(name);
  if (s.size() != rank) {
    throw Error("expected a rank-" + std::to_string(rank) + " tensor, got " + shape_str(s), path,
                name);
  }
  return s[index];
}

// Counts `ip_adapter.<k>.to_k_ip.weight` entries and checks they agree on the context width.
void read_ip_layers(const WeightStore& ws, const std::string& path, AdapterInfo* info) {
  std::set<int64_t> indices;
  int64_t context = -1;
  for (const auto& key : ws.keys_with_prefix("ip_adapter.")) {
    const std::string rest = key.substr(std::string("ip_adapter.").size());
    const size_t dot = rest.find('.');
    const std::string index = rest.substr(0, dot);
    if (dot == std::string::npos || index.empty() ||
        index.find_first_not_of("0123456789") != std::string::npos) {
      throw Error("unexpected key in the ip_adapter section", path, key);
    }
    const std::string param = rest.substr(dot + 1);
    if (param != "to_k_ip.weight" && param != "to_v_ip.weight") {
      throw Error("unexpected key in the ip_adapter section (only to_k_ip/to_v_ip weights)", path,
                  key);
    }
    const int64_t c = dim_of(ws, key, 2, 1, path);
    if (context >= 0 && c != context) {
      throw Error("context width " + std::to_string(c) + " differs from the other layers' " +
                      std::to_string(context),
                  path, key);
    }
    context = c;
    indices.insert(std::stoll(index));
  }
  for (int64_t k : indices) {
    for (const char* p : {"to_k_ip.weight", "to_v_ip.weight"}) {
      const std::string name = "ip_adapter." + std::to_string(k) + "." + p;
      if (!ws.has(name)) throw Error("missing weight (its pair is present)", path, name);
    }
  }
  if (indices.empty()) throw Error("no ip_adapter.<k>.to_k_ip.weight tensors", path);
  info->ip_layers = static_cast<int64_t>(indices.size());
  info->base = info->ip_layers == 16 ? "sd15" : info->ip_layers == 70 ? "sdxl" : "unknown";
  if (info->cross_attention_dim != context) {
    throw Error("image_proj produces width " + std::to_string(info->cross_attention_dim) +
                    " but the ip_adapter layers take " + std::to_string(context),
                path);
  }
}

}  // namespace

AdapterInfo detect_image_projection(const WeightScope& ws, const std::string& path) {
  if (ws.has("perceiver_resampler.proj_in.weight")) {
    throw Error(
        "this is an IP-Adapter FaceID Plus checkpoint (insightface embeddings); FaceID "
        "variants are not supported yet",
        path);
  }
  AdapterInfo info;
  if (ws.has("proj.weight")) {
    // ImageProjModel: proj [T·C, P], norm [C]
    info.variant = AdapterVariant::Basic;
    info.feature = EncoderFeature::ImageEmbeds;
    if (!ws.has("norm.weight")) {
      throw Error("ImageProjModel without its LayerNorm", path, "norm.weight");
    }
    info.cross_attention_dim = dim_of(ws, "norm.weight", 1, 0, path);
    const int64_t rows = dim_of(ws, "proj.weight", 2, 0, path);
    info.image_embed_dim = dim_of(ws, "proj.weight", 2, 1, path);
    if (info.cross_attention_dim <= 0 || rows % info.cross_attention_dim != 0) {
      throw Error("proj.weight has " + std::to_string(rows) +
                      " rows, not a multiple of the token width " +
                      std::to_string(info.cross_attention_dim),
                  path, "proj.weight");
    }
    info.num_tokens = rows / info.cross_attention_dim;
  } else if (ws.has("proj.3.weight")) {
    // MLPProjModel: proj.0 [E, E], proj.2 [C, E], proj.3 LayerNorm [C]
    info.variant = AdapterVariant::FullFace;
    info.feature = EncoderFeature::PenultimateHidden;
    info.image_embed_dim = dim_of(ws, "proj.0.weight", 2, 1, path);
    info.cross_attention_dim = dim_of(ws, "proj.3.weight", 1, 0, path);
  } else if (ws.has("latents")) {
    info.variant = AdapterVariant::Plus;
    info.feature = EncoderFeature::PenultimateHidden;
    const Shape lat = ws.shape_of("latents");
    if (lat.size() != 3 || lat[0] != 1) {
      throw Error::shape_mismatch(path, "latents", {1, -1, -1}, lat);
    }
    ResamplerShape& r = info.resampler;
    r.num_queries = lat[1];
    r.dim = lat[2];
    r.embedding_dim = dim_of(ws, "proj_in.weight", 2, 1, path);
    r.output_dim = dim_of(ws, "proj_out.weight", 2, 0, path);
    while (ws.has("layers." + std::to_string(r.depth) + ".0.to_q.weight")) ++r.depth;
    if (r.depth == 0) throw Error("Resampler without layers", path, "layers.0.0.to_q.weight");
    const int64_t inner = dim_of(ws, "layers.0.0.to_q.weight", 2, 0, path);
    // Every released plus file (and the reference's Resampler default) uses 64-wide heads.
    if (inner % r.dim_head != 0) {
      throw Error("Resampler inner width " + std::to_string(inner) + " is not a multiple of 64",
                  path, "layers.0.0.to_q.weight");
    }
    r.heads = inner / r.dim_head;
    const int64_t ff = dim_of(ws, "layers.0.1.1.weight", 2, 0, path);
    r.ff_mult = r.dim > 0 ? ff / r.dim : 0;
    info.num_tokens = r.num_queries;
    info.cross_attention_dim = r.output_dim;
    info.image_embed_dim = r.embedding_dim;
    if (ws.has("pos_emb.weight")) {
      throw Error("Resampler with positional embedding (apply_pos_emb) is not supported", path,
                  "pos_emb.weight");
    }
  } else if (ws.has("norm.weight")) {
    throw Error(
        "this looks like an IP-Adapter FaceID checkpoint (insightface embeddings); FaceID "
        "variants are not supported yet",
        path);
  } else {
    throw Error(
        "unknown image projection: none of proj.weight (basic), latents (plus), "
        "proj.3.weight (full-face) is present",
        path);
  }
  return info;
}

AdapterInfo detect_adapter(const WeightStore& ws, const std::string& path) {
  if (!looks_like_ip_adapter(ws)) {
    throw Error("not an IP-Adapter checkpoint: expected 'image_proj' and 'ip_adapter' sections",
                path);
  }
  AdapterInfo info = detect_image_projection(ws.scope("image_proj"), path);
  read_ip_layers(ws, path, &info);
  return info;
}

}  // namespace ipa
