// CLIP text encoder on tiny random models against a plain-loop reference (double accumulation),
// plus the pooling rules, F16 weights, clip_skip and malformed configs / weights / ids.
#include <gtest/gtest.h>

#include <cmath>

#include "base/error.h"
#include "models/clip_text.h"
#include "test_support.h"

namespace ipa {
namespace {

// ---- plain reference --------------------------------------------------------------------
using Mat = std::vector<double>;  // row-major

Mat values(const Tensor& t) {
  const std::vector<float> f = t.to_floats();
  return Mat(f.begin(), f.end());
}

Mat ref_linear(const Mat& x, int64_t rows, const Tensor& w, const Tensor& b) {
  const int64_t out = w.size(0), in = w.size(1);
  const Mat W = values(w), B = values(b);
  Mat y(static_cast<size_t>(rows * out));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double s = B[o];
      for (int64_t i = 0; i < in; ++i) s += x[r * in + i] * W[o * in + i];
      y[r * out + o] = s;
    }
  }
  return y;
}

Mat ref_layer_norm(const Mat& x, int64_t rows, const Tensor& g, const Tensor& b, double eps) {
  const Mat G = values(g), B = values(b);
  const int64_t d = static_cast<int64_t>(G.size());
  Mat y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < d; ++i) mean += x[r * d + i];
    mean /= d;
    for (int64_t i = 0; i < d; ++i) var += (x[r * d + i] - mean) * (x[r * d + i] - mean);
    var /= d;
    for (int64_t i = 0; i < d; ++i)
      y[r * d + i] = (x[r * d + i] - mean) / std::sqrt(var + eps) * G[i] + B[i];
  }
  return y;
}

double ref_act(double v, const std::string& act) {
  if (act == "quick_gelu") return v / (1 + std::exp(-1.702 * v));
  return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));  // gelu
}

struct RefOutput {
  std::vector<Mat> hidden;  // embeddings + each layer
  Mat last;
};

RefOutput ref_forward(const ClipTextConfig& c, const WeightStore& ws,
                      const std::vector<std::vector<int64_t>>& ids) {
  const int64_t B = static_cast<int64_t>(ids.size()), L = static_cast<int64_t>(ids[0].size());
  const int64_t D = c.hidden_size, H = c.num_attention_heads, hd = D / H, N = B * L;
  const Mat tok = values(ws.get("text_model.embeddings.token_embedding.weight"));
  const Mat pos = values(ws.get("text_model.embeddings.position_embedding.weight"));
  Mat x(static_cast<size_t>(N * D));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t l = 0; l < L; ++l)
      for (int64_t i = 0; i < D; ++i)
        x[(b * L + l) * D + i] = tok[ids[b][l] * D + i] + pos[l * D + i];
  RefOutput out;
  out.hidden.push_back(x);
  for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) {
    const std::string p = "text_model.encoder.layers." + std::to_string(layer) + ".";
    auto w = [&](const std::string& n) { return ws.get(p + n); };
    const Mat h =
        ref_layer_norm(x, N, w("layer_norm1.weight"), w("layer_norm1.bias"), c.layer_norm_eps);
    const Mat q = ref_linear(h, N, w("self_attn.q_proj.weight"), w("self_attn.q_proj.bias"));
    const Mat k = ref_linear(h, N, w("self_attn.k_proj.weight"), w("self_attn.k_proj.bias"));
    const Mat v = ref_linear(h, N, w("self_attn.v_proj.weight"), w("self_attn.v_proj.bias"));
    Mat a(static_cast<size_t>(N * D), 0.0);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t head = 0; head < H; ++head) {
        for (int64_t i = 0; i < L; ++i) {
          std::vector<double> s(static_cast<size_t>(i + 1));  // causal: keys 0..i
          double mx = -1e300, den = 0;
          for (int64_t j = 0; j <= i; ++j) {
            double dot = 0;
            for (int64_t e = 0; e < hd; ++e)
              dot += q[(b * L + i) * D + head * hd + e] * k[(b * L + j) * D + head * hd + e];
            s[j] = dot / std::sqrt(static_cast<double>(hd));
            mx = std::max(mx, s[j]);
          }
          for (int64_t j = 0; j <= i; ++j) den += (s[j] = std::exp(s[j] - mx));
          for (int64_t j = 0; j <= i; ++j)
            for (int64_t e = 0; e < hd; ++e)
              a[(b * L + i) * D + head * hd + e] += s[j] / den * v[(b * L + j) * D + head * hd + e];
        }
      }
    }
    const Mat o = ref_linear(a, N, w("self_attn.out_proj.weight"), w("self_attn.out_proj.bias"));
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    Mat f = ref_linear(
        ref_layer_norm(x, N, w("layer_norm2.weight"), w("layer_norm2.bias"), c.layer_norm_eps), N,
        w("mlp.fc1.weight"), w("mlp.fc1.bias"));
    for (double& e : f) e = ref_act(e, c.hidden_act);
    f = ref_linear(f, N, w("mlp.fc2.weight"), w("mlp.fc2.bias"));
    for (size_t i = 0; i < x.size(); ++i) x[i] += f[i];
    out.hidden.push_back(x);
  }
  out.last = ref_layer_norm(x, N, ws.get("text_model.final_layer_norm.weight"),
                            ws.get("text_model.final_layer_norm.bias"), c.layer_norm_eps);
  return out;
}

Tensor as_tensor(const Mat& m, const Shape& shape) {
  std::vector<float> f(m.begin(), m.end());
  return Tensor::from_vector(shape, f);
}

// ---- tiny models ------------------------------------------------------------------------
ClipTextConfig tiny_config(const std::string& act) {
  ClipTextConfig c;
  c.vocab_size = 50;
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.max_position_embeddings = 7;
  c.hidden_act = act;
  c.eos_token_id = 2;
  return c;
}

WeightStore tiny_weights(const ClipTextConfig& c, int64_t projection_dim, uint64_t seed,
                         DType dtype = DType::F32) {
  WeightStore ws;
  auto add = [&](const std::string& name, const Shape& shape, float lo = -0.5f, float hi = 0.5f) {
    ws.add(name, test::random_tensor(shape, seed++, lo, hi).to(dtype), "tiny");
  };
  const int64_t D = c.hidden_size, I = c.intermediate_size;
  add("text_model.embeddings.token_embedding.weight", {c.vocab_size, D}, -1.f, 1.f);
  add("text_model.embeddings.position_embedding.weight", {c.max_position_embeddings, D});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "text_model.encoder.layers." + std::to_string(l) + ".";
    for (const char* n : {"layer_norm1", "layer_norm2"}) {
      add(p + n + ".weight", {D}, 0.5f, 1.5f);
      add(p + n + ".bias", {D});
    }
    for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      add(p + "self_attn." + n + ".weight", {D, D});
      add(p + "self_attn." + n + ".bias", {D});
    }
    add(p + "mlp.fc1.weight", {I, D});
    add(p + "mlp.fc1.bias", {I});
    add(p + "mlp.fc2.weight", {D, I});
    add(p + "mlp.fc2.bias", {D});
  }
  add("text_model.final_layer_norm.weight", {D}, 0.5f, 1.5f);
  add("text_model.final_layer_norm.bias", {D});
  if (projection_dim > 0) add("text_projection.weight", {projection_dim, D});
  return ws;
}

Tensor ids_tensor(const std::vector<std::vector<int64_t>>& rows) {
  Tensor t = Tensor::empty(
      {static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())}, DType::I64);
  int64_t* p = t.data<int64_t>();
  for (const auto& r : rows)
    for (int64_t v : r) *p++ = v;
  return t;
}

// bos = 48, eos = 49 (the highest id), padded with eos like SD1.5.
const std::vector<std::vector<int64_t>> kIds = {{48, 5, 17, 49, 49, 49}, {48, 3, 30, 12, 40, 49}};

class ClipTextAgainstReference : public ::testing::TestWithParam<std::string> {};

TEST_P(ClipTextAgainstReference, AllOutputsMatch) {
  const ClipTextConfig c = tiny_config(GetParam());
  const WeightStore ws = tiny_weights(c, 5, 11);
  const ClipTextEncoder te(c, ws);
  ASSERT_TRUE(te.has_projection());
  EXPECT_EQ(te.projection_dim(), 5);
  const ClipTextOutput out = te.forward(ids_tensor(kIds), true);
  const RefOutput ref = ref_forward(c, ws, kIds);
  const Shape shape = {2, 6, c.hidden_size};
  ASSERT_EQ(out.hidden_states.size(), ref.hidden.size());
  for (size_t i = 0; i < ref.hidden.size(); ++i) {
    SCOPED_TRACE("hidden state " + std::to_string(i));
    EXPECT_TRUE(test::AllCloseRel(out.hidden_states[i], as_tensor(ref.hidden[i], shape), 1e-5));
  }
  const Tensor last = as_tensor(ref.last, shape);
  EXPECT_TRUE(test::AllCloseRel(out.last_hidden_state, last, 1e-5));
  // Pooled at argmax(ids): row 0 → position 3 (first eos), row 1 → position 5.
  const Tensor pooled =
      ops::concat({last.select(1, 3).narrow(0, 0, 1), last.select(1, 5).narrow(0, 1, 1)}, 0);
  EXPECT_TRUE(test::AllCloseRel(out.pooled_output, pooled, 1e-5));
  const Mat proj =
      ref_linear(values(pooled), 2, ws.get("text_projection.weight"), Tensor::zeros({5}));
  EXPECT_TRUE(test::AllCloseRel(out.text_embeds, as_tensor(proj, {2, 5}), 1e-5));
}

INSTANTIATE_TEST_SUITE_P(Activations, ClipTextAgainstReference,
                         ::testing::Values("quick_gelu", "gelu"));

TEST(ClipText, PooledPositionRules) {
  ClipTextConfig c = tiny_config("quick_gelu");
  const WeightStore ws = tiny_weights(c, 0, 3);
  // Row 0 holds an id above the eos id before the eos; row 1 has no eos at all.
  const Tensor ids = ids_tensor({{48, 45, 49, 30, 49}, {48, 1, 2, 3, 4}});
  EXPECT_EQ(ClipTextEncoder(c, ws).pooled_positions(ids), (std::vector<int64_t>{2, 0}));
  c.eos_token_id = 45;  // a current config: first occurrence of eos_token_id
  const ClipTextEncoder te(c, ws);
  EXPECT_EQ(te.pooled_positions(ids), (std::vector<int64_t>{1, 0}));
  const ClipTextOutput out = te.forward(ids);
  EXPECT_FALSE(out.text_embeds.defined());
  EXPECT_TRUE(test::AllCloseAbs(out.pooled_output.select(0, 0),
                                out.last_hidden_state.select(0, 0).select(0, 1), 0.0));
}

TEST(ClipText, HiddenStateAndClipSkipUseTheSameLayers) {
  const ClipTextConfig c = tiny_config("quick_gelu");
  const ClipTextEncoder te(c, tiny_weights(c, 0, 5));
  const Tensor ids = ids_tensor(kIds);
  const ClipTextOutput out = te.forward(ids, true);
  EXPECT_TRUE(test::AllCloseAbs(te.hidden_state(ids, -2), out.hidden_states[1], 0.0));
  EXPECT_TRUE(test::AllCloseAbs(te.hidden_state(ids, 0), out.hidden_states[0], 0.0));
  EXPECT_TRUE(test::AllCloseAbs(te.prompt_embeds(ids), out.last_hidden_state, 0.0));
  for (int64_t skip = 1; skip <= 2; ++skip) {
    EXPECT_TRUE(test::AllCloseAbs(
        te.prompt_embeds(ids, skip),
        te.final_layer_norm(out.hidden_states[out.hidden_states.size() - 1 - skip]), 0.0));
  }
  EXPECT_THROW(te.prompt_embeds(ids, 3), Error);
  EXPECT_THROW(te.prompt_embeds(ids, -1), Error);
  EXPECT_THROW(te.hidden_state(ids, 3), Error);
}

TEST(ClipText, F16WeightsComputeLikeTheirF32Values) {
  const ClipTextConfig c = tiny_config("gelu");
  const WeightStore w16 = tiny_weights(c, 4, 21, DType::F16);
  WeightStore w32;
  for (const auto& key : w16.keys()) w32.add(key, w16.get(key).to(DType::F32), "f32");
  const Tensor ids = ids_tensor(kIds);
  const ClipTextOutput a = ClipTextEncoder(c, w16).forward(ids);
  const ClipTextOutput b = ClipTextEncoder(c, w32).forward(ids);
  EXPECT_TRUE(test::AllCloseAbs(a.last_hidden_state, b.last_hidden_state, 0.0));
  EXPECT_TRUE(test::AllCloseAbs(a.text_embeds, b.text_embeds, 0.0));
}

TEST(ClipText, RejectsBadIds) {
  const ClipTextConfig c = tiny_config("quick_gelu");
  const ClipTextEncoder te(c, tiny_weights(c, 0, 1));
  EXPECT_THROW(te.forward(ids_tensor({{1, 2, 3, 4, 5, 6, 7, 8}})), Error);  // > 7 positions
  EXPECT_THROW(te.forward(ids_tensor({{1, 50}})), Error);                   // id ≥ vocab
  EXPECT_THROW(te.forward(ids_tensor({{1, -1}})), Error);
  EXPECT_THROW(te.forward(Tensor::zeros({1, 3})), Error);  // F32 ids
  EXPECT_THROW(te.forward(Tensor::empty({3}, DType::I64)), Error);
}

TEST(ClipText, RejectsMissingOrMisshapenWeights) {
  const ClipTextConfig c = tiny_config("quick_gelu");
  WeightStore ws = tiny_weights(c, 0, 1);
  WeightStore missing;
  for (const auto& key : ws.keys()) {
    if (key != "text_model.encoder.layers.1.mlp.fc2.bias") missing.add(key, ws.get(key), "t");
  }
  try {
    ClipTextEncoder te(c, missing);
    FAIL() << "missing weight accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layers.1.mlp.fc2.bias"), std::string::npos) << e.what();
  }
  ClipTextConfig wide = c;
  wide.intermediate_size = 16;
  EXPECT_THROW(ClipTextEncoder(wide, ws), Error);
  ws.add("text_projection.weight", test::random_tensor({4, 3}, 9), "t");
  EXPECT_THROW(ClipTextEncoder(c, ws), Error);
}

TEST(ClipTextConfig, ReadsJsonWithDefaultsAndRejectsNonsense) {
  const auto c = ClipTextConfig::from_json(
      nlohmann::json::parse(R"({"hidden_size": 16, "num_attention_heads": 4,
                                "hidden_act": "gelu", "eos_token_id": 2})"),
      "config.json");
  EXPECT_EQ(c.hidden_size, 16);
  EXPECT_EQ(c.num_hidden_layers, 12);  // CLIPTextConfig default
  EXPECT_EQ(c.activation(), ops::Activation::GELU);
  EXPECT_EQ(c.eos_token_id, 2);
  EXPECT_EQ(ClipTextConfig::from_json(nlohmann::json::parse("{}"), "c").eos_token_id, 49407);
  // A full CLIPConfig: the text part is used.
  const auto nested = ClipTextConfig::from_json(
      nlohmann::json::parse(R"({"text_config": {"hidden_size": 24, "num_attention_heads": 3}})"),
      "c");
  EXPECT_EQ(nested.hidden_size, 24);
  for (const char* bad :
       {R"({"hidden_size": 10, "num_attention_heads": 4})", R"({"hidden_act": "relu6"})",
        R"({"num_attention_heads": 0})", R"({"hidden_size": "big"})", R"({"layer_norm_eps": 0})",
        R"({"max_position_embeddings": -1})"}) {
    EXPECT_THROW(ClipTextConfig::from_json(nlohmann::json::parse(bad), "config.json"), Error)
        << bad;
  }
  EXPECT_THROW(ClipTextEncoder::from_folder(test::temp_dir("clip_text_empty")), Error);
}

}  // namespace
}  // namespace ipa
