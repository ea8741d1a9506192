// The three projection models against tencent-ailab's ImageProjModel / Resampler / MLPProjModel.
// Tolerance: max|Δ| ≤ 1e-4·max|expected| (fp32 reference; our linear/attention kernels sum in a
// different order, giving ~1e-6 relative differences).
#include <gtest/gtest.h>

#include "adapter/image_proj.h"
#include "adapter/ip_adapter.h"
#include "test_support.h"

namespace ipa {
namespace {

// A projection file of the image_proj case, its keys under "image_proj." as in an adapter.
WeightStore projection_store(const std::string& file) {
  WeightStore ws;
  ws.add_file(test::golden_path("image_proj/" + file), "image_proj.");
  return ws;
}

TEST(GoldenImageProj, AllModelsMatchReference) {
  const auto c = test::load_case("image_proj");
  const TensorFile& golden = test::load_golden("image_proj");
  int checked = 0;
  for (const auto& [name, spec] : c["files"].items()) {
    SCOPED_TRACE(name);
    const WeightStore ws = projection_store(spec["file"]);
    const AdapterInfo info = detect_image_projection(ws.scope("image_proj"), spec["file"]);
    auto proj = load_image_projection(ws, info);
    const Tensor out = proj->forward(test::golden_tensor(golden, name + ".input"));
    EXPECT_TRUE(test::AllCloseRel(out, test::golden_tensor(golden, name + ".output"), 1e-4));
    EXPECT_TRUE(ws.unused_keys().empty());
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

TEST(GoldenImageProj, DetectedShapesMatchCaseParams) {
  const auto c = test::load_case("image_proj");
  const WeightStore ws = projection_store("resampler.safetensors");
  const AdapterInfo info = detect_image_projection(ws.scope("image_proj"), "resampler");
  const auto& p = c["params"]["resampler"];
  EXPECT_EQ(info.variant, AdapterVariant::Plus);
  EXPECT_EQ(info.resampler.dim, p["dim"].get<int64_t>());
  EXPECT_EQ(info.resampler.depth, p["depth"].get<int64_t>());
  EXPECT_EQ(info.resampler.heads, p["heads"].get<int64_t>());
  EXPECT_EQ(info.resampler.num_queries, p["num_queries"].get<int64_t>());
  EXPECT_EQ(info.resampler.ff_mult, p["ff_mult"].get<int64_t>());
  EXPECT_EQ(info.cross_attention_dim, p["output_dim"].get<int64_t>());
  EXPECT_EQ(info.image_embed_dim, p["embedding_dim"].get<int64_t>());

  const WeightStore basic = projection_store("image_proj_model.safetensors");
  const AdapterInfo b = detect_image_projection(basic.scope("image_proj"), "basic");
  const auto& bp = c["params"]["image_proj_model"];
  EXPECT_EQ(*b.num_tokens, bp["clip_extra_context_tokens"].get<int64_t>());
  EXPECT_EQ(b.cross_attention_dim, bp["cross_attention_dim"].get<int64_t>());
  EXPECT_EQ(b.image_embed_dim, bp["clip_embeddings_dim"].get<int64_t>());
}

TEST(ImageProj, WrongFeatureWidthIsAClearError) {
  const WeightStore ws = projection_store("image_proj_model.safetensors");
  const AdapterInfo info = detect_image_projection(ws.scope("image_proj"), "basic");
  auto proj = load_image_projection(ws, info);
  try {
    proj->forward(Tensor::zeros({1, info.image_embed_dim + 1}));
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("width " + std::to_string(info.image_embed_dim)), std::string::npos) << msg;
    EXPECT_NE(msg.find("got " + shape_str({1, info.image_embed_dim + 1})), std::string::npos)
        << msg;
  }
}

// The adapters of the UNet and pipeline cases: their projection turns the golden image embeds
// into the golden ip tokens (both .bin and .safetensors, and the fp16 .bin).
TEST(GoldenImageProj, UnetCaseAdaptersProjectTheirEmbeds) {
  const auto c = test::load_case("unet_sd15_ip");
  const TensorFile& g = test::load_golden("unet_sd15_ip");
  int checked = 0;
  for (const auto& [name, v] : c["variants"].items()) {
    const Tensor embeds = test::golden_tensor(g, name + ".image_embeds");
    for (const auto& file : v["files"]) {
      SCOPED_TRACE(file.get<std::string>());
      WeightStore ws;
      ws.add_file(test::golden_path("unet_sd15_ip/" + file.get<std::string>()));
      AdapterInfo info = detect_adapter(ws, file);
      // full-face: one token per encoder token, i.e. the embeds' token count
      if (!info.num_tokens) info.num_tokens = embeds.size(1);
      EXPECT_EQ(*info.num_tokens, v["num_tokens"].get<int64_t>());
      auto proj = load_image_projection(ws, info);
      EXPECT_TRUE(test::AllCloseRel(proj->forward(embeds),
                                    test::golden_tensor(g, name + ".ip_tokens"), 1e-4));
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

TEST(GoldenImageProj, PipelineCaseTokens) {
  const TensorFile& g = test::load_golden("pipeline_sd15");
  auto adapter = IpAdapter::load(
      test::golden_path("pipeline_sd15/IP-Adapter/models/ip-adapter_sd15.safetensors"));
  EXPECT_TRUE(test::AllCloseRel(adapter->project(test::golden_tensor(g, "clip_image_embeds")),
                                test::golden_tensor(g, "ip_tokens"), 1e-4));
  EXPECT_TRUE(
      test::AllCloseRel(adapter->project(test::golden_tensor(g, "uncond_clip_image_embeds")),
                        test::golden_tensor(g, "uncond_ip_tokens"), 1e-4));
}

}  // namespace
}  // namespace ipa
