// The C API (include/ipadapter.h) through libipadapter.so: generation on the tiny SD1.5 model of
// tests/data, progress and cancel, and every failure coming back as a status and a message.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "ipadapter.h"

namespace {

const std::string kRoot = IPA_SOURCE_DIR "/tests/data/pipeline_sd15";

// A request for the tiny model with paths relative to kRoot; `extra` adds top-level keys.
std::string tiny_request(const std::string& extra = "", const std::string& base = "sd15") {
  return R"({"base": ")" + base +
         R"(", "prompt": "a photo of a red cat", "negative_prompt": "lowres",
             "steps": 4, "seed": 1, "width": 64, "height": 48,
             "ip_adapters": [{"file": "IP-Adapter/models/ip-adapter_sd15.bin",
                              "images": ["reference.png"], "scale": 0.6}])" +
         extra + "}";
}

struct Log {
  std::vector<std::string> lines;
  static void add(const char* message, void* user) {
    static_cast<Log*>(user)->lines.emplace_back(message);
  }
};

ipadapter_engine* load_tiny(Log* log = nullptr, bool one_shot = false) {
  ipadapter_engine_params p = ipadapter_engine_default_params();
  p.root = kRoot.c_str();
  p.one_shot = one_shot;
  if (log) {
    p.log = Log::add;
    p.log_user = log;
  }
  return ipadapter_engine_load(tiny_request().c_str(), &p);
}

struct Progress {
  std::vector<std::pair<int, int>> calls;
  int cancel_at = -1;  // return false after this step
  static bool on_step(int step, int total, void* user) {
    auto* self = static_cast<Progress*>(user);
    self->calls.emplace_back(step, total);
    return step != self->cancel_at;
  }
};

ipadapter_status generate(ipadapter_engine* e, const std::string& request, Progress* progress,
                          ipadapter_result** out) {
  ipadapter_generate_params p = ipadapter_generate_default_params();
  if (progress) {
    p.progress = Progress::on_step;
    p.progress_user = progress;
  }
  return ipadapter_generate(e, request.c_str(), &p, out);
}

std::vector<uint8_t> pixels(const ipadapter_result* r, int index) {
  const ipadapter_image img = ipadapter_result_image(r, index);
  return {img.rgb, img.rgb + static_cast<size_t>(img.width) * img.height * 3};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(CApi, Version) {
  EXPECT_STREQ(ipadapter_version(), IPA_EXPECTED_VERSION);
  EXPECT_STREQ(ipadapter_status_name(IPADAPTER_CANCELLED), "cancelled");
}

TEST(CApi, GeneratesImagesOfTheRequestedSize) {
  Log log;
  ipadapter_engine* e = load_tiny(&log);
  ASSERT_NE(e, nullptr) << ipadapter_last_error();
  EXPECT_FALSE(log.lines.empty());  // what was loaded
  const std::string info = ipadapter_engine_info_json(e);
  EXPECT_TRUE(contains(info, R"("family":"sd15")")) << info;
  EXPECT_TRUE(contains(info, R"("variant":"basic")")) << info;

  Progress progress;
  ipadapter_result* r = nullptr;
  ASSERT_EQ(generate(e, tiny_request(R"(, "num_images": 2)"), &progress, &r), IPADAPTER_OK)
      << ipadapter_last_error();
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(ipadapter_result_count(r), 2);
  for (int i = 0; i < 2; ++i) {
    const ipadapter_image img = ipadapter_result_image(r, i);
    EXPECT_EQ(img.width, 64);
    EXPECT_EQ(img.height, 48);
    EXPECT_NE(img.rgb, nullptr);
  }
  EXPECT_NE(pixels(r, 0), pixels(r, 1));  // two samples, not one image twice
  const ipadapter_image none = ipadapter_result_image(r, 2);
  EXPECT_EQ(none.rgb, nullptr);
  EXPECT_EQ(none.width, 0);
  EXPECT_EQ(progress.calls, (std::vector<std::pair<int, int>>{{1, 4}, {2, 4}, {3, 4}, {4, 4}}));
  const std::string parameters = ipadapter_result_parameters(r);
  EXPECT_TRUE(contains(parameters, "a photo of a red cat\nNegative prompt: lowres\nSteps: 4"))
      << parameters;
  EXPECT_TRUE(contains(parameters, "Seed: 1, Size: 64x48")) << parameters;

  // The PNG: its IHDR has the size, and the parameters are in a text chunk.
  const std::string png = testing::TempDir() + "c_api_out.png";
  ASSERT_EQ(ipadapter_result_write_png(r, 1, png.c_str()), IPADAPTER_OK) << ipadapter_last_error();
  std::ifstream in(png, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 24u);
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<uint8_t>(bytes[at + i]);
    return v;
  };
  EXPECT_EQ(be32(16), 64u);
  EXPECT_EQ(be32(20), 48u);
  EXPECT_TRUE(contains(bytes, "parameters")) << "no parameters chunk";
  std::remove(png.c_str());

  ipadapter_result_free(r);
  ipadapter_engine_free(e);
}

TEST(CApi, CancelStopsAndTheEngineStaysUsable) {
  ipadapter_engine* e = load_tiny();
  ASSERT_NE(e, nullptr) << ipadapter_last_error();
  ipadapter_result* first = nullptr;
  ASSERT_EQ(generate(e, tiny_request(), nullptr, &first), IPADAPTER_OK) << ipadapter_last_error();

  Progress cancel;
  cancel.cancel_at = 2;
  ipadapter_result* r = reinterpret_cast<ipadapter_result*>(&cancel);  // must be reset to NULL
  EXPECT_EQ(generate(e, tiny_request(), &cancel, &r), IPADAPTER_CANCELLED);
  EXPECT_EQ(r, nullptr);
  EXPECT_TRUE(contains(ipadapter_last_error(), "cancelled after step 2 of 4"))
      << ipadapter_last_error();
  EXPECT_EQ(cancel.calls.size(), 2u);  // no step after the one that said stop

  ipadapter_result* again = nullptr;
  ASSERT_EQ(generate(e, tiny_request(), nullptr, &again), IPADAPTER_OK) << ipadapter_last_error();
  EXPECT_EQ(pixels(again, 0), pixels(first, 0));  // same request, same image
  ipadapter_result_free(first);
  ipadapter_result_free(again);
  ipadapter_engine_free(e);
}

TEST(CApi, LoadErrorsAreMessages) {
  ipadapter_engine_params p = ipadapter_engine_default_params();
  p.root = kRoot.c_str();
  EXPECT_EQ(ipadapter_engine_load("{\"base\": \"sd15\",", &p), nullptr);
  EXPECT_TRUE(contains(ipadapter_last_error(), "not valid JSON")) << ipadapter_last_error();

  EXPECT_EQ(ipadapter_engine_load(R"({"base": "sd15", "sed": 1})", &p), nullptr);
  EXPECT_TRUE(contains(ipadapter_last_error(), "sed")) << ipadapter_last_error();

  EXPECT_EQ(ipadapter_engine_load(R"({"prompt": "no model"})", &p), nullptr);
  EXPECT_TRUE(contains(ipadapter_last_error(), "base")) << ipadapter_last_error();

  EXPECT_EQ(ipadapter_engine_load(R"({"base": "no/such/folder"})", &p), nullptr);
  EXPECT_TRUE(contains(ipadapter_last_error(), "no/such/folder")) << ipadapter_last_error();

  EXPECT_EQ(ipadapter_engine_load(nullptr, &p), nullptr);
  EXPECT_TRUE(contains(ipadapter_last_error(), "NULL")) << ipadapter_last_error();
}

TEST(CApi, GenerateErrorsAreMessages) {
  ipadapter_engine* e = load_tiny();
  ASSERT_NE(e, nullptr) << ipadapter_last_error();
  ipadapter_result* r = nullptr;
  auto expect_error = [&](const std::string& request, const std::string& part) {
    SCOPED_TRACE(request);
    EXPECT_EQ(generate(e, request, nullptr, &r), IPADAPTER_ERROR);
    EXPECT_EQ(r, nullptr);
    EXPECT_TRUE(contains(ipadapter_last_error(), part)) << ipadapter_last_error();
  };
  expect_error("[1, 2]", "must be a JSON object");
  expect_error("not json", "not valid JSON");
  // An image that is not there: the message names the file.
  expect_error(R"({"base": "sd15", "ip_adapters": [{"file": "IP-Adapter/models/ip-adapter_sd15.bin",
                   "images": ["missing.png"]}]})",
               "missing.png");
  // Models other than the loaded ones.
  expect_error(
      R"({"base": "sd15", "ip_adapters": [{"file": "IP-Adapter/models/ip-adapter_sd15.safetensors",
                   "images": ["reference.png"]}]})",
      "ip_adapters[0].file");
  expect_error(R"({"prompt": "no adapter"})", "ip_adapters: the engine loaded 1 adapter(s)");
  expect_error(tiny_request("", "../pipeline_sdxl/sdxl"), "base: the engine loaded");
  expect_error(tiny_request(R"(, "threads": 3)"), "threads");
  // Checked against the model before anything runs.
  expect_error(tiny_request(R"(, "width": 60)"), "width");
  EXPECT_EQ(ipadapter_generate(nullptr, "{}", nullptr, &r), IPADAPTER_ERROR);
  EXPECT_EQ(ipadapter_generate(e, tiny_request().c_str(), nullptr, nullptr), IPADAPTER_ERROR);

  // The same request with the paths the engine loaded, spelled differently, is accepted.
  ASSERT_EQ(generate(e, tiny_request("", "./sd15/"), nullptr, &r), IPADAPTER_OK)
      << ipadapter_last_error();
  EXPECT_EQ(ipadapter_result_write_png(r, 1, "x.png"), IPADAPTER_ERROR);
  EXPECT_TRUE(contains(ipadapter_last_error(), "no image 1")) << ipadapter_last_error();
  EXPECT_EQ(ipadapter_result_write_png(r, 0, "/no/such/folder/x.png"), IPADAPTER_ERROR);
  EXPECT_TRUE(contains(ipadapter_last_error(), "/no/such/folder/x.png")) << ipadapter_last_error();
  ipadapter_result_free(r);
  ipadapter_engine_free(e);
  ipadapter_result_free(nullptr);
  ipadapter_engine_free(nullptr);
  EXPECT_EQ(ipadapter_result_count(nullptr), 0);
}

TEST(CApi, LastErrorIsPerThread) {
  EXPECT_EQ(ipadapter_engine_load("{", nullptr), nullptr);
  std::string seen = "unset";
  std::thread([&] { seen = ipadapter_last_error(); }).join();
  EXPECT_EQ(seen, "");  // that thread has had no failure
  EXPECT_TRUE(contains(ipadapter_last_error(), "not valid JSON"));
}

TEST(CApi, OneShotEngineGeneratesOnce) {
  ipadapter_engine* e = load_tiny(nullptr, /*one_shot=*/true);
  ASSERT_NE(e, nullptr) << ipadapter_last_error();
  ipadapter_result* r = nullptr;
  ASSERT_EQ(generate(e, tiny_request(), nullptr, &r), IPADAPTER_OK) << ipadapter_last_error();
  ipadapter_result_free(r);
  EXPECT_EQ(generate(e, tiny_request(), nullptr, &r), IPADAPTER_ERROR);
  EXPECT_STRNE(ipadapter_last_error(), "");
  ipadapter_engine_free(e);
}

// Two engines generate at once from two threads (each serialises its own calls).
TEST(CApi, EnginesRunInParallelThreads) {
  ipadapter_engine* a = load_tiny();
  ipadapter_engine* b = load_tiny();
  ASSERT_NE(a, nullptr) << ipadapter_last_error();
  ASSERT_NE(b, nullptr) << ipadapter_last_error();
  std::atomic<int> ok{0};
  std::vector<std::vector<uint8_t>> images(2);
  auto run = [&](ipadapter_engine* e, int i) {
    ipadapter_result* r = nullptr;
    if (generate(e, tiny_request(R"(, "threads": 0)"), nullptr, &r) == IPADAPTER_OK) {
      images[i] = pixels(r, 0);
      ++ok;
    }
    ipadapter_result_free(r);
  };
  std::thread ta(run, a, 0), tb(run, b, 1);
  ta.join();
  tb.join();
  EXPECT_EQ(ok.load(), 2);
  EXPECT_EQ(images[0], images[1]);
  ipadapter_engine_free(a);
  ipadapter_engine_free(b);
}

}  // namespace
