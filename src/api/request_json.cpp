// The JSON request schema (docs/request.md): one parser for the CLI's --request and the server.
#include "ipadapter/request_json.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "ipadapter/io.h"
#include "tensor/device.h"
#include "weights/hf_cache.h"

namespace ipa {

namespace {

using nlohmann::json;

}  // namespace

// Before parsing, so deep input cannot exhaust the recursive parser's stack.
int json_nesting_depth(const std::string& text) {
  int depth = 0, worst = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '[' || c == '{') worst = std::max(worst, ++depth);
    if (c == ']' || c == '}') --depth;
  }
  return worst;
}

namespace {

class Parser {
 public:
  Parser(const RequestSources& sources, std::string name)
      : sources_(sources), name_(std::move(name)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw Error(field + ": " + what, name_);
  }

  const json& object(const json& j, const std::string& field) const {
    if (!j.is_object()) fail(field, "must be a JSON object, got " + type_of(j));
    return j;
  }
  void only_keys(const json& j, const std::string& field, const std::set<std::string>& allowed) {
    std::string unknown;
    for (const auto& [k, v] : j.items()) {
      if (!allowed.count(k)) unknown += (unknown.empty() ? "'" : ", '") + k + "'";
    }
    if (!unknown.empty()) {
      std::string known;
      for (const auto& k : allowed) known += (known.empty() ? "" : ", ") + k;
      fail(field.empty() ? "request" : field,
           "unknown key(s) " + unknown + " (known: " + known + ")");
    }
  }
  static std::string type_of(const json& j) { return j.type_name(); }
  static std::string path(const std::string& parent, const std::string& key) {
    return parent.empty() ? key : parent + "." + key;
  }

  std::string text(const json& j, const std::string& field) const {
    if (!j.is_string()) fail(field, "must be a string, got " + type_of(j));
    return j.get<std::string>();
  }
  float number(const json& j, const std::string& field) const {
    if (!j.is_number()) fail(field, "must be a number, got " + type_of(j));
    const double v = j.get<double>();
    if (!std::isfinite(v) || std::fabs(v) > 3.4e38) fail(field, "must be a finite number");
    return static_cast<float>(v);
  }
  int64_t integer(const json& j, const std::string& field, int64_t lo, int64_t hi) const {
    if (!j.is_number_integer() && !j.is_number_unsigned()) {
      fail(field, "must be an integer, got " + j.dump());
    }
    if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(hi)) {
      fail(field, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    const int64_t v = j.get<int64_t>();
    if (v < lo || v > hi) {
      fail(field, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                      std::to_string(v));
    }
    return v;
  }
  bool boolean(const json& j, const std::string& field) const {
    if (!j.is_boolean()) fail(field, "must be true or false, got " + j.dump());
    return j.get<bool>();
  }
  const json& list(const json& j, const std::string& field, size_t max = 1024) const {
    if (!j.is_array()) fail(field, "must be a list, got " + type_of(j));
    if (j.size() > max) fail(field, "has more than " + std::to_string(max) + " entries");
    return j;
  }
  std::vector<float> numbers(const json& j, const std::string& field) const {
    std::vector<float> out;
    for (size_t i = 0; i < list(j, field).size(); ++i) {
      out.push_back(number(j[i], field + "[" + std::to_string(i) + "]"));
    }
    return out;
  }
  std::string file(const json& j, const std::string& field) const {
    return sources_.resolve(text(j, field), field);
  }
  // A model path: like file(), but a Hugging Face repo id ("org/name[/path]") with no such file
  // beside the request stays as it is, for the engine to find in the hub cache.
  std::string model(const json& j, const std::string& field) const {
    const std::string given = text(j, field);
    const std::string local = sources_.resolve(given, field);
    return !std::filesystem::exists(local) && looks_like_repo_id(given) ? given : local;
  }
  std::vector<image::Image> images(const json& j, const std::string& field) const {
    std::vector<image::Image> out;
    for (size_t i = 0; i < list(j, field, 64).size(); ++i) {
      const std::string f = field + "[" + std::to_string(i) + "]";
      out.push_back(sources_.image(text(j[i], f), f));
    }
    return out;
  }
  // "WIDTHxHEIGHT" or [width, height].
  ImageSize size(const json& j, const std::string& field) const {
    if (j.is_array()) {
      if (j.size() != 2) fail(field, "must be [width, height]");
      return {static_cast<int>(integer(j[0], field + "[0]", 1, 16384)),
              static_cast<int>(integer(j[1], field + "[1]", 1, 16384))};
    }
    const std::string s = text(j, field);
    int w = 0, h = 0;
    char x = 0, extra = 0;
    if (std::sscanf(s.c_str(), "%d%c%d%c", &w, &x, &h, &extra) != 3 || (x != 'x' && x != 'X') ||
        w < 1 || h < 1 || w > 16384 || h > 16384) {
      fail(field, "must be \"WIDTHxHEIGHT\" or [width, height], got \"" + s + "\"");
    }
    return {w, h};
  }

  PartScales part_scales(const json& j, const std::string& field) const {
    PartScales p;
    if (j.is_number()) {
      p.all = number(j, field);
      return p;
    }
    for (const auto& [k, v] : object(j, field).items()) {
      const std::string f = path(field, k);
      int block = -1;
      char extra = 0;
      if (std::sscanf(k.c_str(), "block_%d%c", &block, &extra) != 1 || block < 0 || block > 64) {
        fail(f, "keys must be block_<i> (i = the index in unet.down_blocks / up_blocks)");
      }
      p.blocks[block] = v.is_array() ? numbers(v, f) : std::vector<float>{number(v, f)};
    }
    return p;
  }
  BlockScales block_scales(const json& j, const std::string& field) {
    only_keys(j, field, {"down", "mid", "up"});
    BlockScales b;
    if (j.contains("down")) b.down = part_scales(j["down"], path(field, "down"));
    if (j.contains("up")) b.up = part_scales(j["up"], path(field, "up"));
    if (j.contains("mid")) {
      const json& m = j["mid"];
      const std::string f = path(field, "mid");
      if (m.is_array()) {
        // diffusers unwraps a one-element list; longer ones are an error there too
        if (m.size() != 1) fail(f, "must be a number or a one-element list");
        b.mid = number(m[0], f + "[0]");
      } else {
        b.mid = number(m, f);
      }
    }
    return b;
  }

  template <typename E>
  E choice(const json& j, const std::string& field, std::optional<E> (*parse)(std::string_view),
           const std::vector<std::string>& names) const {
    const std::string s = text(j, field);
    const auto v = parse(s);
    if (!v) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "'" : ", '") + n + "'";
      fail(field, "unknown value '" + s + "' (one of " + list + ")");
    }
    return *v;
  }

  ImagePrompt adapter(const json& j, const std::string& field, AdapterOptions* models) {
    only_keys(j, field,
              {"file", "image_encoder", "images", "scale", "preset", "weight_composition", "masks",
               "negative_images", "image_embeds", "combine", "image_weights", "start", "end",
               "embeds_scaling"});
    if (!j.contains("file")) fail(path(field, "file"), "is required (the adapter file)");
    models->file = model(j["file"], path(field, "file"));
    if (j.contains("image_encoder")) {
      models->image_encoder = model(j["image_encoder"], path(field, "image_encoder"));
    }
    ImagePrompt p;
    if (j.contains("images")) p.images = images(j["images"], path(field, "images"));
    if (j.contains("negative_images")) {
      p.negative_images = images(j["negative_images"], path(field, "negative_images"));
    }
    if (j.contains("masks")) p.masks = images(j["masks"], path(field, "masks"));
    if (j.contains("scale")) {
      const json& s = j["scale"];
      const std::string f = path(field, "scale");
      if (s.is_number()) {
        p.scale = number(s, f);
      } else if (s.is_array()) {
        p.image_scales = numbers(s, f);
      } else if (s.is_object()) {
        p.block_scales = block_scales(s, f);
      } else {
        fail(f, "must be a number, a list (one per image, with masks) or a per-block object");
      }
    }
    if (j.contains("preset")) {
      p.preset = choice<LayerPreset>(j["preset"], path(field, "preset"), parse_layer_preset,
                                     layer_preset_names());
    }
    if (j.contains("weight_composition")) {
      p.weight_composition = number(j["weight_composition"], path(field, "weight_composition"));
    }
    if (j.contains("image_embeds")) {
      const std::string f = path(field, "image_embeds");
      const std::string file_path = file(j["image_embeds"], f);
      const auto arrays = read_float_arrays(file_path);
      const auto cond = arrays.find("clip_feature");
      if (cond == arrays.end()) {
        fail(f, file_path +
                    " has no tensor 'clip_feature' (write it with `ipadapter embed "
                    "--save-clip`)");
      }
      p.clip_feature = cond->second;
      if (const auto u = arrays.find("uncond_clip_feature"); u != arrays.end()) {
        p.uncond_clip_feature = u->second;
      }
    }
    if (j.contains("combine")) {
      p.combine = choice<CombineImages>(j["combine"], path(field, "combine"), parse_combine,
                                        {"concat", "add", "subtract", "average", "norm_average"});
    }
    if (j.contains("image_weights")) {
      p.image_weights = numbers(j["image_weights"], path(field, "image_weights"));
    }
    if (j.contains("start")) p.start = number(j["start"], path(field, "start"));
    if (j.contains("end")) p.end = number(j["end"], path(field, "end"));
    if (!(p.start >= 0 && p.end <= 1 && p.start < p.end)) {
      fail(path(field, "start"), "the window must satisfy 0 <= start < end <= 1, got start " +
                                     std::to_string(p.start) + ", end " + std::to_string(p.end));
    }
    if (j.contains("embeds_scaling")) {
      p.embeds_scaling = choice<EmbedsScaling>(
          j["embeds_scaling"], path(field, "embeds_scaling"), parse_embeds_scaling,
          {"V only", "K+V", "K+V w/ C penalty", "K+mean(V) w/ C penalty"});
    }
    return p;
  }

  ControlImage control(const json& j, const std::string& field, ControlNetOptions* models) {
    only_keys(j, field, {"file", "config", "image", "scale", "start", "end"});
    if (!j.contains("file")) fail(path(field, "file"), "is required (the ControlNet)");
    models->file = model(j["file"], path(field, "file"));
    if (j.contains("config")) models->config = model(j["config"], path(field, "config"));
    if (!j.contains("image")) fail(path(field, "image"), "is required (the control image)");
    ControlImage c;
    c.image = sources_.image(text(j["image"], path(field, "image")), path(field, "image"));
    if (j.contains("scale")) c.scale = number(j["scale"], path(field, "scale"));
    if (j.contains("start")) c.start = number(j["start"], path(field, "start"));
    if (j.contains("end")) c.end = number(j["end"], path(field, "end"));
    if (!(c.start >= 0 && c.end <= 1 && c.start < c.end)) {
      fail(path(field, "start"), "the window must satisfy 0 <= start < end <= 1, got start " +
                                     std::to_string(c.start) + ", end " + std::to_string(c.end));
    }
    return c;
  }

  LoraOptions lora(const json& j, const std::string& field) {
    only_keys(j, field, {"file", "weight"});
    if (!j.contains("file")) fail(path(field, "file"), "is required (the LoRA file)");
    LoraOptions l;
    l.file = file(j["file"], path(field, "file"));
    if (j.contains("weight")) l.weight = number(j["weight"], path(field, "weight"));
    return l;
  }

  ParsedRequest request(const json& j) {
    object(j, "request");
    only_keys(j, "",
              {"base",
               "prompt",
               "negative_prompt",
               "prompt_2",
               "negative_prompt_2",
               "width",
               "height",
               "steps",
               "cfg",
               "sampler",
               "eta",
               "seed",
               "num_images",
               "clip_skip",
               "vae_tiling",
               "image_prep",
               "original_size",
               "target_size",
               "crop_top_left",
               "init_latents",
               "ip_adapters",
               "threads",
               "precision",
               "device",
               "out",
               "dump_latents",
               "init_image",
               "strength",
               "mask",
               "mask_blur",
               "padding_mask_crop",
               "keep_unmasked",
               "unet",
               "controlnets",
               "loras",
               "guess_mode",
               "timestep_spacing",
               "revision",
               "variant",
               "base_config",
               "vae"});
    ParsedRequest out;
    GenerateRequest& r = out.request;
    if (j.contains("base")) out.base = model(j["base"], "base");
    if (j.contains("base_config")) out.base_config = model(j["base_config"], "base_config");
    if (j.contains("vae")) out.vae = model(j["vae"], "vae");
    if (j.contains("revision")) out.revision = text(j["revision"], "revision");
    if (j.contains("variant")) out.variant = text(j["variant"], "variant");
    if (j.contains("prompt")) r.prompt = text(j["prompt"], "prompt");
    if (j.contains("negative_prompt"))
      r.negative_prompt = text(j["negative_prompt"], "negative_prompt");
    if (j.contains("prompt_2")) r.prompt_2 = text(j["prompt_2"], "prompt_2");
    if (j.contains("negative_prompt_2")) {
      r.negative_prompt_2 = text(j["negative_prompt_2"], "negative_prompt_2");
    }
    if (j.contains("width")) r.width = static_cast<int>(integer(j["width"], "width", 0, 16384));
    if (j.contains("height")) r.height = static_cast<int>(integer(j["height"], "height", 0, 16384));
    if (j.contains("steps")) r.steps = static_cast<int>(integer(j["steps"], "steps", 1, 1000));
    if (j.contains("cfg")) r.cfg = number(j["cfg"], "cfg");
    if (j.contains("sampler")) {
      r.sampler = choice<Sampler>(j["sampler"], "sampler", parse_sampler, sampler_names());
    }
    if (j.contains("timestep_spacing")) {
      r.timestep_spacing =
          choice<TimestepSpacing>(j["timestep_spacing"], "timestep_spacing", parse_timestep_spacing,
                                  timestep_spacing_names());
    }
    if (j.contains("eta")) r.eta = number(j["eta"], "eta");
    if (j.contains("seed")) {
      if (!j["seed"].is_number_unsigned() &&
          !(j["seed"].is_number_integer() && j["seed"].get<int64_t>() >= 0)) {
        fail("seed", "must be a non-negative integer");
      }
      r.seed = j["seed"].get<uint64_t>();
    }
    if (j.contains("num_images")) {
      r.num_images = static_cast<int>(integer(j["num_images"], "num_images", 1, 64));
    }
    if (j.contains("clip_skip"))
      r.clip_skip = static_cast<int>(integer(j["clip_skip"], "clip_skip", 0, 64));
    if (j.contains("vae_tiling")) {
      r.vae_tiling =
          choice<VaeTiling>(j["vae_tiling"], "vae_tiling", parse_vae_tiling, {"auto", "on", "off"});
    }
    if (j.contains("image_prep")) {
      r.image_prep =
          choice<ImagePrep>(j["image_prep"], "image_prep", parse_image_prep, {"crop", "squash"});
    }
    if (j.contains("original_size")) r.original_size = size(j["original_size"], "original_size");
    if (j.contains("target_size")) r.target_size = size(j["target_size"], "target_size");
    if (j.contains("crop_top_left")) {
      const json& c = j["crop_top_left"];
      if (!c.is_array() || c.size() != 2) fail("crop_top_left", "must be [top, left]");
      r.crop_top = static_cast<int>(integer(c[0], "crop_top_left[0]", 0, 16384));
      r.crop_left = static_cast<int>(integer(c[1], "crop_top_left[1]", 0, 16384));
    }
    if (j.contains("init_latents")) {
      const std::string f = file(j["init_latents"], "init_latents");
      const auto arrays = read_float_arrays(f);
      const auto it = arrays.find("latents");
      if (it == arrays.end()) fail("init_latents", f + " has no tensor 'latents'");
      r.init_latents = it->second;
    }
    if (j.contains("ip_adapters")) {
      const json& list_j = list(j["ip_adapters"], "ip_adapters", 16);
      for (size_t i = 0; i < list_j.size(); ++i) {
        const std::string f = "ip_adapters[" + std::to_string(i) + "]";
        AdapterOptions models;
        r.image_prompts.push_back(adapter(object(list_j[i], f), f, &models));
        out.ip_adapters.push_back(std::move(models));
      }
    }
    if (j.contains("init_image")) {
      r.init_image = sources_.image(text(j["init_image"], "init_image"), "init_image");
    }
    if (j.contains("strength")) {
      if (!j["strength"].is_number()) fail("strength", "must be a number");
      r.strength = j["strength"].get<double>();
    }
    if (j.contains("mask")) r.mask = sources_.image(text(j["mask"], "mask"), "mask");
    if (j.contains("mask_blur")) r.mask_blur = number(j["mask_blur"], "mask_blur");
    if (j.contains("padding_mask_crop")) {
      r.padding_mask_crop =
          static_cast<int>(integer(j["padding_mask_crop"], "padding_mask_crop", 0, 16384));
    }
    if (j.contains("keep_unmasked")) r.keep_unmasked = boolean(j["keep_unmasked"], "keep_unmasked");
    if (j.contains("unet")) out.unet = model(j["unet"], "unet");
    if (j.contains("controlnets")) {
      const json& list_j = list(j["controlnets"], "controlnets", 8);
      for (size_t i = 0; i < list_j.size(); ++i) {
        const std::string f = "controlnets[" + std::to_string(i) + "]";
        ControlNetOptions models;
        r.controls.push_back(control(object(list_j[i], f), f, &models));
        out.controlnets.push_back(std::move(models));
      }
    }
    if (j.contains("loras")) {
      const json& list_j = list(j["loras"], "loras", 64);
      for (size_t i = 0; i < list_j.size(); ++i) {
        const std::string f = "loras[" + std::to_string(i) + "]";
        out.loras.push_back(lora(object(list_j[i], f), f));
      }
    }
    if (j.contains("guess_mode")) r.guess_mode = boolean(j["guess_mode"], "guess_mode");
    if (j.contains("threads") || j.contains("precision") || j.contains("device")) {
      ComputeOptions c;
      if (j.contains("threads"))
        c.threads = static_cast<int>(integer(j["threads"], "threads", 0, 1024));
      if (j.contains("precision")) {
        c.precision = choice<Precision>(j["precision"], "precision", parse_precision,
                                        {"f32", "bf16", "auto"});
      }
      if (j.contains("device")) {
        c.device = text(j["device"], "device");
        try {
          parse_device(c.device);  // the name only: whether this build has it is load's check
        } catch (const Error&) {
          fail("device", "expected cpu, cuda or cuda:N (N >= 0), got '" + c.device + "'");
        }
      }
      out.compute = c;
    }
    if (j.contains("out")) out.out = file(j["out"], "out");
    if (j.contains("dump_latents")) out.dump_latents = file(j["dump_latents"], "dump_latents");
    return out;
  }

 private:
  const RequestSources& sources_;
  std::string name_;
};

}  // namespace

EngineOptions ParsedRequest::engine_options() const {
  EngineOptions o;
  o.base = base;
  o.base_config = base_config;
  o.vae = vae;
  o.ip_adapters = ip_adapters;
  o.unet = unet;
  o.controlnets = controlnets;
  o.revision = revision;
  o.variant = variant;
  o.loras = loras;
  o.compute = compute.value_or(ComputeOptions{});
  return o;
}

ParsedRequest parse_request_json(const std::string& text, const RequestSources& sources,
                                 const std::string& name, const RequestLimits& limits) {
  if (text.size() > limits.max_bytes) {
    throw Error("the request is larger than " + std::to_string(limits.max_bytes) + " bytes", name);
  }
  if (json_nesting_depth(text) > limits.max_depth) {
    throw Error("the request nests deeper than " + std::to_string(limits.max_depth) + " levels",
                name);
  }
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for 1e400
    throw Error(std::string("not valid JSON: ") + e.what(), name);
  }
  Parser p(sources, name);
  return p.request(j);
}

RequestSources file_request_sources(const std::string& folder) {
  RequestSources s;
  s.resolve = [folder](const std::string& path, const std::string& field) {
    if (path.empty()) throw Error(field + ": the path is empty");
    const std::filesystem::path p(path);
    return p.is_absolute() || folder.empty() ? p.string()
                                             : (std::filesystem::path(folder) / p).string();
  };
  s.image = [resolve = s.resolve](const std::string& ref, const std::string& field) {
    return read_image(resolve(ref, field));
  };
  return s;
}

}  // namespace ipa
