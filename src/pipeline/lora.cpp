#include "pipeline/lora.h"

#include <cmath>
#include <map>
#include <memory>
#include <optional>

#include "models/unet/ldm_layout.h"
#include "ops/ops.h"
#include "weights/ldm_unet_names.h"
#include "weights/lora_file.h"

namespace ipa {

namespace {

// scale · up · down added to a weight as it is converted (the LoRA file's tensors stay
// memory-mapped until then).
class LowRankUpdate final : public WeightUpdate {
 public:
  LowRankUpdate(Tensor up, Tensor down, float scale)
      : up_(std::move(up)), down_(std::move(down)), scale_(scale) {}

  void add_to(Tensor& weight) const override {
    const int64_t out = weight.shape().at(0), in = weight.numel() / out, rank = down_.shape()[0];
    const Tensor up = up_.to(DType::F32).reshape({out, rank});
    const Tensor down = down_.to(DType::F32).reshape({rank, in});
    ops::add_(weight, ops::matmul(up, down, false, scale_).reshape(weight.shape()));
  }

 private:
  Tensor up_, down_;
  float scale_;
};

std::string flatten(std::string name) {
  for (char& c : name) {
    if (c == '.') c = '_';
  }
  return name;
}

std::string strip_weight(const std::string& key) {
  return key.substr(0, key.size() - std::string(".weight").size());
}

// How a file's module names find a store's weights: dotted names directly; kohya's flattened
// ones through a table of every linear / convolution weight of the store flattened (and, for
// the UNet, its LDM name flattened too: SDXL kohya files use those).
class ModelNames {
 public:
  ModelNames(const WeightStore& store, const LdmUNetNames* ldm) : store_(store) {
    const std::string suffix = ".weight";
    for (const std::string& key : store.keys()) {
      if (key.size() <= suffix.size() ||
          key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) {
        continue;
      }
      const size_t rank = store.shape_of(key).size();
      if (rank != 2 && rank != 4) continue;  // norms, biases
      add(flatten(strip_weight(key)), key);
      if (ldm) {
        if (auto l = ldm->to_ldm(key)) add(flatten(strip_weight(*l)), key);
      }
    }
  }

  // The store key of a layer's weight, or nullopt.
  std::optional<std::string> find(const LoraLayer& layer) const {
    if (!layer.flat) {
      const std::string key = layer.module + ".weight";
      if (store_.has(key)) return key;
      return std::nullopt;
    }
    const auto it = flat_.find(layer.module);
    if (it == flat_.end() || it->second.empty()) return std::nullopt;
    return it->second;
  }

 private:
  void add(const std::string& flat, const std::string& key) {
    auto [it, inserted] = flat_.emplace(flat, key);
    if (!inserted && it->second != key) it->second.clear();  // ambiguous: never matched
  }
  const WeightStore& store_;
  std::map<std::string, std::string> flat_;
};

std::string listed(const std::vector<std::string>& items, size_t n = 10) {
  std::string s;
  for (size_t i = 0; i < items.size() && i < n; ++i) s += (i ? ", '" : "'") + items[i] + "'";
  if (items.size() > n) s += ", …";
  return s;
}

// A family guess from a cross-attention width, for messages.
std::string width_family(int64_t width) {
  switch (width) {
    case 768:
      return " (SD1.x's)";
    case 1024:
      return " (SD2.x's)";
    case 2048:
      return " (SDXL's)";
    default:
      return "";
  }
}

std::string family_label(ModelFamily f) {
  return f == ModelFamily::SDXL ? "SDXL" : "SD1.5";
}

struct Binding {
  const LoraLayer* layer;
  WeightStore* store;
  std::string key;
};

// The store a layer's model names, or an error for a model this family does not have.
WeightStore* store_for(const LoraLayer& l, const LoraTargets& t, const std::string& path) {
  const bool sdxl = t.family == ModelFamily::SDXL;
  if (l.model == "unet") return t.unet;
  if (l.model == "text_encoder_2" || l.kohya_prefix == "lora_te1_") {
    if (t.text_encoders.size() < 2) {
      throw Error("LoRA layer '" + l.key + "' is for SDXL's " +
                      (l.model == "text_encoder_2" ? "second" : "first") +
                      " text encoder; the base model is " + family_label(t.family) +
                      ", with one text encoder: a LoRA made for SDXL",
                  path);
    }
    return t.text_encoders[l.model == "text_encoder_2" ? 1 : 0];
  }
  if (l.kohya_prefix == "lora_te_" && sdxl) {
    throw Error("LoRA layer '" + l.key +
                    "' names a single text encoder (lora_te_, the kohya naming of SD1.x / SD2.x); "
                    "SDXL LoRAs name lora_te1_ / lora_te2_: a LoRA made for another family than "
                    "this SDXL base model",
                path);
  }
  return t.text_encoders.at(0);
}

// Checks a layer's down / up shapes against the weight they adapt.
void check_shapes(const LoraLayer& l, const Shape& w, const std::string& key,
                  const std::string& path) {
  if (w.size() != 2 && w.size() != 4) {
    throw Error(
        "LoRA layer for '" + key + "' " + shape_str(w) + ": not a linear or convolution weight",
        path, l.key);
  }
  const int64_t r = l.rank();
  const Shape& d = l.down.shape();
  const Shape& u = l.up.shape();
  Shape expected_down = w;
  expected_down[0] = r;
  // A linear LoRA on a 1×1 convolution (or the reverse) is the same matrix.
  const bool one_by_one = w.size() == 2 || (w[2] == 1 && w[3] == 1);
  const bool down_ok =
      d == expected_down || (one_by_one && d.size() + w.size() == 6 && d[0] == r && d[1] == w[1] &&
                             (d.size() == 2 || (d[2] == 1 && d[3] == 1)));
  if (!down_ok) {
    std::string hint;
    const bool cross = key.find("attn2.to_k.") != std::string::npos ||
                       key.find("attn2.to_v.") != std::string::npos;
    if (cross && d.size() == 2 && w.size() == 2 && d[1] != w[1]) {
      hint = ": its cross-attention takes " + std::to_string(d[1]) + " features" +
             width_family(d[1]) + ", this model's " + std::to_string(w[1]) + width_family(w[1]) +
             " — a LoRA made for another model family";
    } else {
      hint = " (a LoRA made for another model family or architecture?)";
    }
    throw Error("LoRA down weight for '" + key + "' " + shape_str(w) + ": expected shape " +
                    shape_str(expected_down) + ", got " + shape_str(d) + hint,
                path, l.key);
  }
  const bool up_ok = u[0] == w[0];
  if (!up_ok) {
    throw Error("LoRA up weight for '" + key + "' " + shape_str(w) + ": expected shape " +
                    shape_str({w[0], r}) + ", got " + shape_str(u) +
                    " (a LoRA made for another model family or architecture?)",
                path, l.key);
  }
}

}  // namespace

std::vector<MergedLora> merge_loras(const std::vector<LoraOptions>& loras, const LoraTargets& t) {
  if (loras.empty()) return {};
  if (!t.unet || !t.unet_config || t.text_encoders.empty()) {
    throw Error("merge_loras: the UNet and text encoder weights are required");
  }
  const LdmUNetNames ldm(unet::ldm_unet_layout(*t.unet_config));
  const ModelNames unet_names(*t.unet, &ldm);
  std::vector<ModelNames> te_names;
  for (WeightStore* s : t.text_encoders) te_names.emplace_back(*s, nullptr);
  auto names_of = [&](const WeightStore* s) -> const ModelNames& {
    for (size_t i = 0; i < t.text_encoders.size(); ++i) {
      if (t.text_encoders[i] == s) return te_names[i];
    }
    return unet_names;
  };

  // Everything is read and checked before the first update is added.
  std::vector<LoraFile> files;
  files.reserve(loras.size());  // bindings point into the files' layers
  std::vector<std::vector<Binding>> bindings;
  for (const LoraOptions& o : loras) {
    if (!std::isfinite(o.weight)) throw Error("the LoRA weight must be a finite number", o.file);
    files.push_back(read_lora_file(o.file));
    const LoraFile& f = files.back();
    std::vector<Binding> b;
    std::vector<std::string> unknown;
    std::map<std::string, std::string> seen;  // store key → layer
    for (const LoraLayer& l : f.layers) {
      WeightStore* store = store_for(l, t, f.path);
      const std::optional<std::string> key = names_of(store).find(l);
      if (!key) {
        unknown.push_back(l.key);
        continue;
      }
      const std::string qualified = l.model + ":" + *key;
      if (auto [it, inserted] = seen.emplace(qualified, l.key); !inserted) {
        throw Error("LoRA layers '" + it->second + "' and '" + l.key + "' adapt the same weight '" +
                        *key + "'",
                    f.path);
      }
      b.push_back({&l, store, *key});
    }
    if (!unknown.empty()) {
      throw Error(std::to_string(unknown.size()) + " of " + std::to_string(f.layers.size()) +
                      " LoRA layers match no weight of this " + family_label(t.family) +
                      " model (a LoRA made for another family, or for layers it does not have): " +
                      listed(unknown),
                  f.path);
    }
    for (const Binding& x : b) {
      check_shapes(*x.layer, x.store->shape_of(x.key), x.key, f.path);
    }
    bindings.push_back(std::move(b));
  }

  std::vector<MergedLora> out;
  for (size_t i = 0; i < files.size(); ++i) {
    MergedLora m;
    m.options = loras[i];
    m.format = files[i].format;
    for (const Binding& x : bindings[i]) {
      (x.store == t.unet ? m.unet_layers : m.text_encoder_layers)++;
      if (loras[i].weight == 0.f) continue;  // the same as no LoRA, exactly
      x.store->add_update(x.key, std::make_shared<LowRankUpdate>(x.layer->up, x.layer->down,
                                                                 x.layer->scale(loras[i].weight)));
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace ipa
