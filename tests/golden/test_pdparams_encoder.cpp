// pdparams_encoder: the PaddleNLP mirror's image encoders as paddle.save writes them
// (model_state.pdparams F32, model_state.fp16.pdparams F16; PaddleNLP and ppdiffusers names).
// Loaded through the model folder they must equal the transformers originals (*_hf/) tensor for
// tensor, with the case JSON's key map and transpositions; `embed` through them must equal
// `embed` through the HF folder and embed_variants' goldens; the hostile files are refused
// naming the file and the foreign global. Every name, size and file comes from the case JSON.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "formats/safetensors.h"
#include "test_support.h"
#include "weights/model_folder.h"
#include "weights/paddle_names.h"

namespace fs = std::filesystem;

namespace ipa {
namespace {

const nlohmann::json& pd_case() {
  static const nlohmann::json c = test::load_case("pdparams_encoder");
  return c;
}

std::string pd_path(const std::string& rel) {
  return test::golden_path("pdparams_encoder/" + rel);
}

// "f4" files are read as they are, "f2" variants with --variant fp16.
std::string variant_of(const std::string& file) {
  return file.find(".fp16.") != std::string::npos ? "fp16" : "";
}

TEST(GoldenPdparams, TensorsEqualTheTransformersOriginals) {
  int checked = 0;
  for (const auto& [enc_name, enc] : pd_case()["encoders"].items()) {
    const TensorFile hf =
        read_safetensors(pd_path(enc["hf_copy"].get<std::string>()) + "/model.safetensors");
    for (const auto& [flavour, fl] : enc["flavours"].items()) {
      const std::string dir = pd_path(fl["dir"].get<std::string>());
      for (const auto& [file, info] : fl["files"].items()) {
        SCOPED_TRACE(enc_name + " " + flavour + " " + file);
        // The raw file: Paddle's names and shapes as the JSON lists them.
        TensorFile raw = load_tensor_file(dir + "/" + file);
        EXPECT_EQ(raw.format, "pdparams");
        ASSERT_EQ(raw.tensors.size(), fl["tensors"].size());
        const DType want_dtype =
            info["dtype"].get<std::string>() == "float16" ? DType::F16 : DType::F32;
        for (const auto& t : fl["tensors"]) {
          const Tensor* p = raw.find(t["paddle_key"].get<std::string>());
          ASSERT_NE(p, nullptr) << t["paddle_key"];
          EXPECT_EQ(p->shape(), t["paddle_shape"].get<Shape>()) << t["paddle_key"];
          EXPECT_EQ(p->dtype(), want_dtype);
        }
        // Through the model folder (variant picks the file): transformers' names and layout,
        // the same values as the HF checkpoint.
        const ModelFolder folder = open_model_folder(dir, DType::F32, variant_of(file));
        EXPECT_EQ(fs::path(folder.weights_path).filename().string(), file);
        for (const auto& t : fl["tensors"]) {
          const std::string key = t["hf_key"].get<std::string>();
          const Tensor* want = hf.find(key);
          ASSERT_NE(want, nullptr) << key;
          ASSERT_TRUE(folder.weights.has(key)) << key;
          const Tensor got = folder.weights.get(key);
          EXPECT_EQ(got.shape(), t["hf_shape"].get<Shape>()) << key;
          EXPECT_EQ(got.shape(), want->shape()) << key;
          // fp32: bit-exact; fp16: the weights are fp16-exact, so equal as floats too.
          EXPECT_EQ(got.contiguous().to_floats(), want->contiguous().to_floats()) << key;
          ++checked;
        }
        // Nothing left over that the model would not read.
        EXPECT_EQ(folder.weights.size(), fl["tensors"].size());
      }
    }
  }
  EXPECT_GT(checked, 0);
}

// `ipadapter embed` through each Paddle folder (both files, both namings) gives exactly what it
// gives through the HF folder, which is embed_variants' golden for an adapter of that encoder.
TEST(GoldenPdparams, CliEmbedEqualsTheHfFolderAndTheGoldens) {
  const auto ev = test::load_case("embed_variants");
  const TensorFile& golden = test::load_golden("embed_variants");
  const std::string tmp = test::temp_dir("pd_embed");
  const std::vector<std::string> keys = {"clip_feature", "uncond_clip_feature",
                                         "image_prompt_embeds", "uncond_image_prompt_embeds"};
  std::vector<std::string> images;
  for (const auto& img : ev["images"]) {
    images.push_back("--image");
    images.push_back(test::golden_path("embed_variants/" + img["file"].get<std::string>()));
  }
  int checked = 0;
  std::set<std::string> done;
  for (const auto& [enc_name, enc] : pd_case()["encoders"].items()) {
    const std::string hf_source = fs::path(enc["hf_source"].get<std::string>()).filename();
    for (const auto& [variant_name, v] : ev["variants"].items()) {
      std::string encoder = v["image_encoder"];
      if (!encoder.empty() && encoder.back() == '/') encoder.pop_back();
      if (encoder != hf_source || !done.insert(enc_name).second) continue;  // one adapter each
      const std::string adapter =
          test::golden_path("embed_variants/" + v["checkpoint_files"][0].get<std::string>());
      auto embed = [&](const std::string& dir, const std::string& variant, const std::string& out) {
        std::vector<std::string> args = {"embed", "--ip-adapter", adapter, "--image-encoder",
                                         dir,     "--out",        out,     "--save-clip"};
        if (!variant.empty()) args.insert(args.end(), {"--variant", variant});
        args.insert(args.end(), images.begin(), images.end());
        std::string text;
        EXPECT_EQ(test::run_cli(args, &text), 0) << text;
        return read_safetensors(out);
      };
      const TensorFile ref = embed(pd_path(enc["hf_copy"].get<std::string>()), "", tmp + "/hf.st");
      for (const auto& [flavour, fl] : enc["flavours"].items()) {
        for (const auto& [file, info] : fl["files"].items()) {
          SCOPED_TRACE(enc_name + " " + variant_name + " " + flavour + " " + file);
          const TensorFile got =
              embed(pd_path(fl["dir"].get<std::string>()), variant_of(file), tmp + "/pd.st");
          for (const auto& key : keys) {
            ASSERT_NE(got.find(key), nullptr) << key;
            EXPECT_EQ(got.find(key)->to_floats(), ref.find(key)->to_floats()) << key;
            EXPECT_TRUE(test::AllCloseRel(
                *got.find(key), test::golden_tensor(golden, variant_name + ".both." + key), 1e-4))
                << key;
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 0);
}

// The mirror's root layout: an adapter beside config.json and the encoder's weights finds that
// encoder (by width) without --image-encoder, from model.safetensors or model_state.pdparams.
TEST(GoldenPdparams, AdapterAtTheRepositoryRootFindsTheEncoderBesideIt) {
  const auto ev = test::load_case("embed_variants");
  const std::string image =
      test::golden_path("embed_variants/" + ev["images"][0]["file"].get<std::string>());
  int checked = 0;
  std::set<std::string> done;
  for (const auto& [enc_name, enc] : pd_case()["encoders"].items()) {
    const std::string hf_source = fs::path(enc["hf_source"].get<std::string>()).filename();
    for (const auto& [variant_name, v] : ev["variants"].items()) {
      std::string encoder = v["image_encoder"];
      if (!encoder.empty() && encoder.back() == '/') encoder.pop_back();
      if (encoder != hf_source || !done.insert(enc_name).second) continue;  // one adapter each
      const std::string adapter_file = v["checkpoint_files"][0].get<std::string>();
      for (const auto& [flavour, fl] : enc["flavours"].items()) {
        SCOPED_TRACE(enc_name + " " + variant_name + " " + flavour);
        const fs::path root = fs::path(test::temp_dir("pd_root")) / "repo";
        fs::create_directories(root);
        fs::copy_file(test::golden_path("embed_variants/" + adapter_file), root / adapter_file);
        fs::copy(pd_path(fl["dir"].get<std::string>()), root);  // config.json + .pdparams
        std::string text;
        ASSERT_EQ(test::run_cli({"embed", "--ip-adapter", (root / adapter_file).string(), "--image",
                                 image, "--out", (root / "e.safetensors").string()},
                                &text),
                  0)
            << text;
        EXPECT_TRUE(test::contains(text, "image encoder: " + root.string())) << text;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 0);
}

TEST(GoldenPdparams, HostileFilesAreRefusedNamingFileAndGlobal) {
  const auto& h = pd_case()["hostile"];
  for (const auto& f : h["files"]) {
    const std::string path = pd_path(f.get<std::string>());
    SCOPED_TRACE(path);
    const std::string msg = test::error_of([&] { load_tensor_file(path); });
    EXPECT_TRUE(test::contains(msg, path)) << msg;
    EXPECT_TRUE(test::contains(msg, "'os.system' is not allowed")) << msg;
    // Through the CLI too, before anything runs.
    std::string text;
    EXPECT_EQ(test::run_cli({"inspect", path}, &text), 1);
    EXPECT_TRUE(test::contains(text, "os.system")) << text;
  }
}

TEST(GoldenPdparams, InspectDescribesPdparams) {
  for (const auto& [enc_name, enc] : pd_case()["encoders"].items()) {
    for (const auto& [flavour, fl] : enc["flavours"].items()) {
      for (const auto& [file, info] : fl["files"].items()) {
        const std::string path = pd_path(fl["dir"].get<std::string>() + "/" + file);
        std::string text;
        ASSERT_EQ(test::run_cli({"inspect", "--json", path}, &text), 0) << text;
        const auto j = nlohmann::json::parse(text);
        EXPECT_EQ(j["format"], "pdparams");
        EXPECT_EQ(j["num_tensors"], fl["tensors"].size());
        EXPECT_TRUE(j.contains("layout")) << text;
      }
      // The folder: an image encoder whose weights are the full-precision file.
      std::string text;
      ASSERT_EQ(test::run_cli({"inspect", "--json", pd_path(fl["dir"].get<std::string>())}, &text),
                0)
          << text;
      const auto j = nlohmann::json::parse(text);
      EXPECT_EQ(j["kind"], "image-encoder");
      EXPECT_EQ(fs::path(j["weights"].get<std::string>()).filename(), "model_state.pdparams");
      EXPECT_EQ(j["hidden_size"], enc["config"]["hidden_size"]);
    }
  }
}

}  // namespace
}  // namespace ipa
