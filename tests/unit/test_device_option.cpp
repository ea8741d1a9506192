// ComputeOptions::device through every way in: the request JSON (valid names, a bad one named
// in the error), the engine (cuda in a build without CUDA refused before anything is read),
// the CLI (`--device cuda` says to rebuild with -DIPA_CUDA=ON) and `ipadapter info`.
#include <gtest/gtest.h>

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

#ifndef IPA_HAVE_CUDA
TEST(DeviceOption, CudaWithoutACudaBuildFailsBeforeLoading) {
  EngineOptions o;
  o.base = "/nonexistent/base/model";  // never read: the device is checked first
  o.compute.device = "cuda";
  const std::string msg = test::error_of([&] { Engine::load(o); });
  EXPECT_TRUE(test::contains(msg, "built without CUDA")) << msg;
  EXPECT_TRUE(test::contains(msg, "-DIPA_CUDA=ON")) << msg;
  EXPECT_FALSE(test::contains(msg, "nonexistent")) << msg;
}

TEST(DeviceOption, CliSaysTheBinaryHasNoCuda) {
  for (const char* cmd : {"generate", "bench"}) {
    std::string out;
    const std::vector<std::string> args =
        std::string(cmd) == "generate"
            ? std::vector<std::string>{"generate", "--base", "/nonexistent/base",
                                       "--prompt", "x",      "--device",
                                       "cuda:0",   "--out",  "/tmp/never.png"}
            : std::vector<std::string>{"bench", "--device", "cuda", "--steps", "1"};
    EXPECT_NE(test::run_cli(args, &out), 0) << cmd << ": " << out;
    EXPECT_TRUE(test::contains(out, "built without CUDA")) << cmd << ": " << out;
    EXPECT_TRUE(test::contains(out, "-DIPA_CUDA=ON")) << cmd << ": " << out;
  }
  std::string info;
  EXPECT_EQ(test::run_cli({"info"}, &info), 0) << info;
  EXPECT_TRUE(test::contains(info, "device: cpu")) << info;
  EXPECT_TRUE(test::contains(info, "device: cuda: not in this build")) << info;
}
#endif

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
