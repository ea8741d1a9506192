// ComputeOptions::device through every way in: the request JSON (valid names, a bad one named
// in the error), the engine and the CLI (`cuda` refused before anything is read: "rebuild with
// -DIPA_CUDA=ON" without the backend, "no CUDA device" in a CUDA build without a GPU) and
// `ipadapter info`.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ipadapter/engine.h"
#include "ipadapter/request_json.h"
#include "server/engine_cache.h"
#include "test_support.h"

namespace ipa {
namespace {

ParsedRequest parse(const std::string& extra) {
  return parse_request_json(R"({"base": "b", "prompt": "p")" + extra + "}",
                            file_request_sources(""), "request.json");
}

TEST(DeviceOption, RequestJsonTakesTheDevice) {
  EXPECT_FALSE(parse("").compute.has_value());
  EXPECT_EQ(parse("").engine_options().compute.device, "cpu");
  for (const char* d : {"cpu", "cuda", "cuda:1"}) {
    const ParsedRequest pr = parse(std::string(R"(, "device": ")") + d + "\"");
    ASSERT_TRUE(pr.compute.has_value()) << d;
    EXPECT_EQ(pr.compute->device, d);
    EXPECT_EQ(pr.engine_options().compute.device, d);
  }
}

TEST(DeviceOption, RequestJsonRefusesABadDeviceNamingIt) {
  for (const char* bad : {R"("gpu")", R"("cuda:x")", R"("cuda:-1")", R"("")"}) {
    const std::string msg = test::error_of([&] { parse(std::string(R"(, "device": )") + bad); });
    EXPECT_TRUE(test::contains(msg, "device")) << msg;
    EXPECT_TRUE(test::contains(msg, "cuda:N")) << msg;
    EXPECT_TRUE(test::contains(msg, std::string(bad).substr(1, std::string(bad).size() - 2)))
        << msg;
  }
  EXPECT_TRUE(test::contains(test::error_of([] { parse(R"(, "device": 0)"); }), "string"));
}

// What this binary says about CUDA, from `ipadapter info`: a build without the backend says
// "not in this build"; a CUDA build on a machine without a GPU says "unavailable (no CUDA
// device: ...)". Each build must refuse `cuda` with its own message before reading any model;
// with a GPU present cuda works, and these refusals are not what is tested.
struct CudaSupport {
  bool built = false, gpu = false;
  std::string info;
};
CudaSupport cuda_support() {
  CudaSupport c;
  EXPECT_EQ(test::run_cli({"info"}, &c.info), 0) << c.info;
  c.built = !test::contains(c.info, "device: cuda: not in this build");
  c.gpu = test::contains(c.info, "device: cuda:0");
  return c;
}
// The words and the hint the refusal must contain in this build.
std::vector<std::string> refusal_words(const CudaSupport& c) {
  if (c.built) return {"no CUDA device"};
  return {"built without CUDA", "-DIPA_CUDA=ON"};
}

TEST(DeviceOption, CudaWithoutACudaDeviceFailsBeforeLoading) {
  const CudaSupport c = cuda_support();
  if (c.gpu) GTEST_SKIP() << "a GPU is present: cuda works here";
  EngineOptions o;
  o.base = "/nonexistent/base/model";  // never read: the device is checked first
  o.compute.device = "cuda";
  const std::string msg = test::error_of([&] { Engine::load(o); });
  for (const std::string& w : refusal_words(c)) EXPECT_TRUE(test::contains(msg, w)) << msg;
  EXPECT_FALSE(test::contains(msg, "nonexistent")) << msg;
}

TEST(DeviceOption, CliSaysWhyCudaIsUnavailable) {
  const CudaSupport c = cuda_support();
  EXPECT_TRUE(test::contains(c.info, "device: cpu")) << c.info;
  if (c.gpu) GTEST_SKIP() << "a GPU is present: cuda works here";
  EXPECT_TRUE(test::contains(c.info, c.built ? "device: cuda: unavailable (no CUDA device"
                                             : "device: cuda: not in this build"))
      << c.info;
  for (const char* cmd : {"generate", "bench"}) {
    std::string out;
    const std::vector<std::string> args =
        std::string(cmd) == "generate"
            ? std::vector<std::string>{"generate", "--base", "/nonexistent/base",
                                       "--prompt", "x",      "--device",
                                       "cuda:0",   "--out",  "/tmp/never.png"}
            : std::vector<std::string>{"bench", "--device", "cuda", "--steps", "1"};
    EXPECT_NE(test::run_cli(args, &out), 0) << cmd << ": " << out;
    for (const std::string& w : refusal_words(c)) {
      EXPECT_TRUE(test::contains(out, w)) << cmd << ": " << out;
    }
  }
}

// The server keeps one engine per device: the device is part of the cache keys.
TEST(DeviceOption, ServerCacheKeysIncludeTheDevice) {
  EngineOptions a, b;
  a.base = b.base = "/models/base";
  b.compute.device = "cuda:1";
  EXPECT_NE(server::engine_key(a), server::engine_key(b));
  EmbedderOptions ea, eb;
  ea.ip_adapter = eb.ip_adapter = "/models/a.bin";
  eb.compute.device = "cuda";
  EXPECT_NE(server::embedder_key(ea), server::embedder_key(eb));
}

TEST(DeviceOption, EngineRefusesABadDeviceName) {
  EngineOptions o;
  o.base = "/nonexistent/base/model";
  o.compute.device = "tpu";
  const std::string msg = test::error_of([&] { Engine::load(o); });
  EXPECT_TRUE(test::contains(msg, "'tpu'")) << msg;
}

}  // namespace
}  // namespace ipa
