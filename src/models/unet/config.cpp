#include "models/unet/config.h"

#include <algorithm>

#include "base/error.h"
#include "formats/json_file.h"

namespace ipa::unet {

namespace {

using nlohmann::json;

// The parser's view of one config file: typed access with errors naming file and key.
class Reader {
 public:
  Reader(const json& j, std::string source) : j_(j), source_(std::move(source)) {}

  const json* find(const std::string& key) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  template <typename T>
  T value(const std::string& key, const T& fallback) const {
    return json_value<T>(j_, key, fallback, source_);
  }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error("config key '" + key + "': " + what, source_);
  }
  [[noreturn]] void unsupported(const std::string& key, const json& v) const {
    fail(key, "value " + v.dump() + " is not supported by this UNet implementation");
  }
  // An int given once for all blocks, or a list with one entry per block.
  std::vector<int64_t> per_block(const std::string& key, int64_t fallback, size_t n) const {
    const json* v = find(key);
    if (!v) return std::vector<int64_t>(n, fallback);
    if (v->is_number_integer()) return std::vector<int64_t>(n, v->get<int64_t>());
    if (v->is_array()) {
      if (v->size() != n) {
        fail(key, "has " + std::to_string(v->size()) + " entries but there are " +
                      std::to_string(n) + " down blocks");
      }
      std::vector<int64_t> out;
      for (const auto& e : *v) {
        if (!e.is_number_integer()) fail(key, "entries must be integers, got " + e.dump());
        out.push_back(e.get<int64_t>());
      }
      return out;
    }
    fail(key, "must be an integer or a list of integers, got " + v->dump());
  }
  // Fails unless the key is absent or null.
  void require_null(const std::string& key) const {
    if (const json* v = find(key)) unsupported(key, *v);
  }
  const std::string& source() const { return source_; }

 private:
  const json& j_;
  std::string source_;
};

std::string strip_unetres(const std::string& type) {
  return type.rfind("UNetRes", 0) == 0 ? type.substr(7) : type;
}

// transformer_layers_per_block entry for one block: an int for every layer, or a list per layer.
std::vector<int> expand_layers(const Reader& r, const std::string& key, const json& entry,
                               int num_layers) {
  if (entry.is_number_integer()) return std::vector<int>(num_layers, entry.get<int>());
  if (entry.is_array()) {
    if (static_cast<int>(entry.size()) < num_layers) {
      r.fail(key, "entry " + entry.dump() + " lists fewer transformer depths than the block's " +
                      std::to_string(num_layers) + " layers");
    }
    std::vector<int> out;
    for (int i = 0; i < num_layers; ++i) {
      if (!entry[i].is_number_integer()) r.fail(key, "entries must be integers");
      out.push_back(entry[i].get<int>());
    }
    return out;
  }
  r.fail(key, "entries must be integers or lists of integers, got " + entry.dump());
}

void check_depths(const Reader& r, const std::string& key, const std::vector<int>& depths) {
  for (int d : depths)
    if (d < 1) r.fail(key, "transformer depth must be at least 1, got " + std::to_string(d));
}

}  // namespace

UNetConfig parse_unet_config(const json& j, const std::string& source) {
  if (!j.is_object()) throw Error("UNet config must be a JSON object", source);
  const Reader r(j, source);
  UNetConfig c;
  c.source = source;

  const std::string cls = r.value<std::string>("_class_name", "UNet2DConditionModel");
  if (cls != "UNet2DConditionModel") {
    r.fail("_class_name", "expected UNet2DConditionModel, got " + cls);
  }

  if (const json* v = r.find("sample_size")) {
    // An int, or [height, width] (both the same in every released SD config).
    if (v->is_number_integer()) {
      c.sample_size = v->get<int64_t>();
    } else if (v->is_array() && !v->empty() && (*v)[0].is_number_integer()) {
      c.sample_size = (*v)[0].get<int64_t>();
    } else {
      r.fail("sample_size", "must be an integer or a list of integers, got " + v->dump());
    }
    if (c.sample_size < 1) r.fail("sample_size", "must be positive");
  }

  // ---- options this implementation does not cover: refuse them clearly ----
  if (r.value<bool>("dual_cross_attention", false)) r.unsupported("dual_cross_attention", true);
  r.require_null("class_embed_type");
  r.require_null("num_class_embeds");
  r.require_null("encoder_hid_dim");
  r.require_null("encoder_hid_dim_type");
  r.require_null("time_embedding_act_fn");
  r.require_null("timestep_post_act");
  r.require_null("time_cond_proj_dim");
  r.require_null("cross_attention_norm");
  if (const json* v = r.find("num_attention_heads")) {
    r.fail("num_attention_heads",
           "is refused by diffusers' UNet2DConditionModel (give the head count in "
           "attention_head_dim); got " +
               v->dump());
  }
  const auto attention_type = r.value<std::string>("attention_type", "default");
  if (attention_type != "default") r.unsupported("attention_type", attention_type);
  const auto shift = r.value<std::string>("resnet_time_scale_shift", "default");
  if (shift != "default") {
    r.fail("resnet_time_scale_shift",
           "'" + shift +
               "' is not supported (only \"default\": the time embedding is added "
               "between the two convolutions of each resnet)");
  }
  const auto act = r.value<std::string>("act_fn", "silu");
  if (act != "silu" && act != "swish") r.unsupported("act_fn", act);
  const auto time_type = r.value<std::string>("time_embedding_type", "positional");
  if (time_type != "positional") r.unsupported("time_embedding_type", time_type);
  if (const json* v = r.find("only_cross_attention")) {
    const bool any_true =
        v->is_boolean() ? v->get<bool>()
                        : (v->is_array() && std::any_of(v->begin(), v->end(), [](const json& e) {
                             return e.is_boolean() && e.get<bool>();
                           }));
    if (any_true) r.unsupported("only_cross_attention", *v);
  }

  // ---- scalars ----
  c.in_channels = r.value<int64_t>("in_channels", 4);
  c.out_channels = r.value<int64_t>("out_channels", 4);
  c.center_input_sample = r.value<bool>("center_input_sample", false);
  c.flip_sin_to_cos = r.value<bool>("flip_sin_to_cos", true);
  c.freq_shift = r.value<float>("freq_shift", 0.f);
  c.downsample_padding = r.value<int>("downsample_padding", 1);
  c.mid_block_scale_factor = r.value<float>("mid_block_scale_factor", 1.f);
  c.norm_eps = r.value<float>("norm_eps", 1e-5f);
  c.use_linear_projection = r.value<bool>("use_linear_projection", false);
  c.upcast_attention = r.value<bool>("upcast_attention", false);
  c.conv_in_kernel = r.value<int>("conv_in_kernel", 3);
  c.conv_out_kernel = r.value<int>("conv_out_kernel", 3);
  if (c.in_channels < 1) r.fail("in_channels", "must be positive");
  if (c.out_channels < 1) r.fail("out_channels", "must be positive");
  if (c.downsample_padding < 0) r.fail("downsample_padding", "must not be negative");
  if (c.mid_block_scale_factor == 0.f) r.fail("mid_block_scale_factor", "must not be 0");
  for (auto [key, k] : {std::pair{"conv_in_kernel", c.conv_in_kernel},
                        std::pair{"conv_out_kernel", c.conv_out_kernel}}) {
    if (k < 1 || k % 2 == 0) r.fail(key, "must be a positive odd number, got " + std::to_string(k));
  }
  {
    const json* g = r.find("norm_num_groups");
    if (j.contains("norm_num_groups") && !g) {
      r.fail("norm_num_groups", "null (no output group norm) is not supported");
    }
    c.norm_num_groups = r.value<int>("norm_num_groups", 32);
    if (c.norm_num_groups < 1) r.fail("norm_num_groups", "must be positive");
  }

  // ---- block lists ----
  const auto down_types = r.value<std::vector<std::string>>(
      "down_block_types",
      {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"});
  const auto up_types = r.value<std::vector<std::string>>(
      "up_block_types",
      {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"});
  c.block_out_channels =
      r.value<std::vector<int64_t>>("block_out_channels", {320, 640, 1280, 1280});
  const size_t n = down_types.size();
  if (n == 0) r.fail("down_block_types", "must not be empty");
  if (up_types.size() != n) {
    r.fail("up_block_types", "has " + std::to_string(up_types.size()) +
                                 " entries but down_block_types has " + std::to_string(n));
  }
  if (c.block_out_channels.size() != n) {
    r.fail("block_out_channels", "has " + std::to_string(c.block_out_channels.size()) +
                                     " entries but down_block_types has " + std::to_string(n));
  }
  for (int64_t ch : c.block_out_channels)
    if (ch < 1) r.fail("block_out_channels", "entries must be positive");

  const auto layers = r.per_block("layers_per_block", 2, n);
  const auto heads = r.per_block("attention_head_dim", 8, n);
  const auto cross = r.per_block("cross_attention_dim", 1280, n);
  for (auto l : layers)
    if (l < 1) r.fail("layers_per_block", "entries must be at least 1");
  for (auto h : heads)
    if (h < 1) r.fail("attention_head_dim", "entries (the head counts) must be at least 1");
  for (auto x : cross)
    if (x < 1) r.fail("cross_attention_dim", "entries must be positive");
  c.cross_attention_dim = cross[0];
  c.cross_attention_dim_per_block =
      r.find("cross_attention_dim") && r.find("cross_attention_dim")->is_array();

  // transformer_layers_per_block: int, or one entry per down block (int or per-layer list).
  std::vector<json> tlpb(n, json(1));
  bool tlpb_nested = false;
  if (const json* v = r.find("transformer_layers_per_block")) {
    if (v->is_number_integer()) {
      tlpb.assign(n, *v);
    } else if (v->is_array() && v->size() == n) {
      for (size_t i = 0; i < n; ++i) {
        tlpb[i] = (*v)[i];
        tlpb_nested = tlpb_nested || (*v)[i].is_array();
      }
    } else {
      r.fail("transformer_layers_per_block",
             "must be an integer or a list with one entry per down block, got " + v->dump());
    }
  }
  const json* reverse = r.find("reverse_transformer_layers_per_block");
  if (tlpb_nested && !reverse) {
    r.fail("transformer_layers_per_block",
           "lists per-layer depths, which needs reverse_transformer_layers_per_block");
  }
  if (reverse && (!reverse->is_array() || reverse->size() != n)) {
    r.fail("reverse_transformer_layers_per_block",
           "must be a list with one entry per up block, got " + reverse->dump());
  }

  // ---- down blocks ----
  int64_t output_channel = c.block_out_channels[0];
  for (size_t i = 0; i < n; ++i) {
    BlockSpec b;
    b.type = strip_unetres(down_types[i]);
    if (b.type == "CrossAttnDownBlock2D") {
      b.has_attention = true;
    } else if (b.type != "DownBlock2D") {
      r.fail("down_block_types", "block type '" + down_types[i] +
                                     "' is not supported (DownBlock2D, CrossAttnDownBlock2D)");
    }
    b.in_channels = output_channel;
    output_channel = c.block_out_channels[i];
    b.out_channels = output_channel;
    b.num_layers = static_cast<int>(layers[i]);
    b.add_sample = i + 1 != n;
    b.heads = static_cast<int>(heads[i]);
    b.cross_attention_dim = cross[i];
    if (b.has_attention) {
      b.transformer_layers =
          expand_layers(r, "transformer_layers_per_block", tlpb[i], b.num_layers);
      check_depths(r, "transformer_layers_per_block", b.transformer_layers);
      if (b.out_channels < b.heads) {
        r.fail("attention_head_dim", "down block " + std::to_string(i) + " has " +
                                         std::to_string(b.heads) + " heads but only " +
                                         std::to_string(b.out_channels) + " channels");
      }
    }
    c.down_blocks.push_back(std::move(b));
  }

  // ---- mid block ----
  {
    std::string mid_type = "UNetMidBlock2DCrossAttn";
    if (j.contains("mid_block_type")) {
      const json& v = j.at("mid_block_type");
      if (v.is_null()) {
        mid_type.clear();
      } else if (v.is_string()) {
        mid_type = v.get<std::string>();
      } else {
        r.fail("mid_block_type", "must be a string or null");
      }
    }
    c.mid.type = mid_type;
    c.mid.channels = c.block_out_channels.back();
    c.mid.heads = static_cast<int>(heads.back());
    c.mid.cross_attention_dim = cross.back();
    if (mid_type == "UNetMidBlock2DCrossAttn") {
      c.mid.num_layers = 1;
      c.mid.transformer_layers =
          expand_layers(r, "transformer_layers_per_block", tlpb.back(), c.mid.num_layers);
      check_depths(r, "transformer_layers_per_block", c.mid.transformer_layers);
      if (c.mid.channels < c.mid.heads) {
        r.fail("attention_head_dim", "the mid block has more heads than channels");
      }
    } else if (mid_type == "UNetMidBlock2D") {
      c.mid.num_layers = 0;  // diffusers builds it with num_layers=0, add_attention=False
    } else if (!mid_type.empty()) {
      r.fail("mid_block_type", "'" + mid_type +
                                   "' is not supported (UNetMidBlock2DCrossAttn, "
                                   "UNetMidBlock2D or null)");
    }
  }

  // ---- up blocks (mirror of the down path) ----
  output_channel = c.block_out_channels[n - 1];
  for (size_t i = 0; i < n; ++i) {
    const size_t rev = n - 1 - i;  // the down block this up block mirrors
    BlockSpec b;
    b.type = strip_unetres(up_types[i]);
    if (b.type == "CrossAttnUpBlock2D") {
      b.has_attention = true;
    } else if (b.type != "UpBlock2D") {
      r.fail("up_block_types",
             "block type '" + up_types[i] + "' is not supported (UpBlock2D, CrossAttnUpBlock2D)");
    }
    b.prev_output_channel = output_channel;
    output_channel = c.block_out_channels[rev];
    b.out_channels = output_channel;
    b.in_channels = c.block_out_channels[rev == 0 ? 0 : rev - 1];
    b.num_layers = static_cast<int>(layers[rev]) + 1;
    b.add_sample = i + 1 != n;
    b.heads = static_cast<int>(heads[rev]);
    b.cross_attention_dim = cross[rev];
    if (b.has_attention) {
      const json& entry = reverse ? (*reverse)[i] : tlpb[rev];
      b.transformer_layers = expand_layers(
          r, reverse ? "reverse_transformer_layers_per_block" : "transformer_layers_per_block",
          entry, b.num_layers);
      check_depths(r, "transformer_layers_per_block", b.transformer_layers);
      if (b.out_channels < b.heads) {
        r.fail("attention_head_dim", "up block " + std::to_string(i) + " has " +
                                         std::to_string(b.heads) + " heads but only " +
                                         std::to_string(b.out_channels) + " channels");
      }
    }
    c.up_blocks.push_back(std::move(b));
  }

  // ---- time embedding ----
  c.time_proj_dim = c.block_out_channels[0];
  c.time_embed_dim = r.value<int64_t>("time_embedding_dim", 4 * c.block_out_channels[0]);
  if (c.time_embed_dim < 1) r.fail("time_embedding_dim", "must be positive");
  if (const json* v = r.find("addition_embed_type")) {
    if (*v != "text_time") {
      r.fail("addition_embed_type",
             "value " + v->dump() + " is not supported (only \"text_time\", as in SDXL)");
    }
    c.text_time = true;
    c.addition_time_embed_dim = r.value<int64_t>("addition_time_embed_dim", 0);
    c.projection_class_embeddings_input_dim =
        r.value<int64_t>("projection_class_embeddings_input_dim", 0);
    if (c.addition_time_embed_dim < 1) {
      r.fail("addition_time_embed_dim", "must be a positive integer for text_time conditioning");
    }
    if (c.projection_class_embeddings_input_dim < 1) {
      r.fail("projection_class_embeddings_input_dim",
             "must be a positive integer for text_time conditioning");
    }
  }
  return c;
}

UNetConfig load_unet_config(const std::string& path) {
  return parse_unet_config(read_json_file(path), path);
}

}  // namespace ipa::unet
