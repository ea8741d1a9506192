#include "weights/paddle_names.h"

#include <regex>
#include <vector>

#include "base/error.h"

namespace ipa {

namespace {

struct Rule {
  std::regex paddle;
  std::string transformers;  // a std::regex_replace format
  bool transpose;
};

// PaddleNLP's CLIPVisionModelWithProjection names (its _get_name_mappings, read backwards).
const std::vector<Rule>& paddlenlp_rules() {
  static const std::vector<Rule> rules = [] {
    const std::string L = R"(^vision_model\.transformer\.layers\.(\d+)\.)";
    const std::string H = "vision_model.encoder.layers.$1.";
    std::vector<Rule> r;
    auto add = [&](const std::string& from, const std::string& to, bool transpose) {
      r.push_back({std::regex(from), to, transpose});
    };
    add(R"(^vision_projection$)", "visual_projection.weight", true);
    add(R"(^vision_model\.class_embedding$)", "vision_model.embeddings.class_embedding", false);
    add(R"(^vision_model\.conv1\.weight$)", "vision_model.embeddings.patch_embedding.weight",
        false);
    add(R"(^vision_model\.positional_embedding\.weight$)",
        "vision_model.embeddings.position_embedding.weight", false);
    add(R"(^vision_model\.ln_pre\.(weight|bias)$)", "vision_model.pre_layrnorm.$1", false);
    add(R"(^vision_model\.ln_post\.(weight|bias)$)", "vision_model.post_layernorm.$1", false);
    add(L + R"(self_attn\.(q|k|v|out)_proj\.weight$)", H + "self_attn.$2_proj.weight", true);
    add(L + R"(self_attn\.(q|k|v|out)_proj\.bias$)", H + "self_attn.$2_proj.bias", false);
    add(L + R"(linear1\.weight$)", H + "mlp.fc1.weight", true);
    add(L + R"(linear1\.bias$)", H + "mlp.fc1.bias", false);
    add(L + R"(linear2\.weight$)", H + "mlp.fc2.weight", true);
    add(L + R"(linear2\.bias$)", H + "mlp.fc2.bias", false);
    add(L + R"(norm1\.(weight|bias)$)", H + "layer_norm1.$2", false);
    add(L + R"(norm2\.(weight|bias)$)", H + "layer_norm2.$2", false);
    return r;
  }();
  return rules;
}

// ppdiffusers: transformers' names already; only the Linear weights are Paddle's [in, out].
bool is_ppdiffusers_linear_weight(const std::string& name) {
  static const std::regex r(
      R"(^(vision_model\.encoder\.layers\.\d+\.(self_attn\.(q|k|v|out)_proj|mlp\.fc[12])|visual_projection)\.weight$)");
  return std::regex_match(name, r);
}

void transpose(NamedTensor& nt, const std::string& paddle_name, const std::string& path) {
  if (nt.tensor.dim() != 2) {
    throw Error(
        "a Paddle Linear weight should be 2-D [in, out], got " + shape_str(nt.tensor.shape()), path,
        paddle_name);
  }
  nt.tensor = nt.tensor.transpose(0, 1);
}

}  // namespace

void paddle_clip_vision_to_transformers(TensorFile& file) {
  for (NamedTensor& nt : file.tensors) {
    const std::string paddle_name = nt.name;
    bool renamed = false;
    for (const Rule& rule : paddlenlp_rules()) {
      if (!std::regex_match(paddle_name, rule.paddle)) continue;
      nt.name = std::regex_replace(paddle_name, rule.paddle, rule.transformers);
      if (rule.transpose) transpose(nt, paddle_name, file.path);
      renamed = true;
      break;
    }
    if (!renamed && is_ppdiffusers_linear_weight(paddle_name))
      transpose(nt, paddle_name, file.path);
  }
}

}  // namespace ipa
