// `auto` precision (ipa::resolve_precision): the environment override, the rule per CPU, the
// refusal of a bad value, and what the engine and the CLI do with it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "ipadapter/engine.h"
#include "ipadapter/types.h"
#include "ops/ops.h"
#include "test_support.h"

namespace ipa {
namespace {

// Sets (or with nullptr unsets) IPADAPTER_PRECISION while it lives.
class PrecisionEnv {
 public:
  explicit PrecisionEnv(const char* value) {
    if (const char* old = std::getenv("IPADAPTER_PRECISION")) previous_ = old;
    if (value) {
      setenv("IPADAPTER_PRECISION", value, 1);
    } else {
      unsetenv("IPADAPTER_PRECISION");
    }
  }
  ~PrecisionEnv() {
    if (previous_) {
      setenv("IPADAPTER_PRECISION", previous_->c_str(), 1);
    } else {
      unsetenv("IPADAPTER_PRECISION");
    }
  }

 private:
  std::optional<std::string> previous_;
};

TEST(PrecisionAuto, TheTestSuitePinsF32) {
  EXPECT_TRUE(test::precision_pinned());
  EXPECT_EQ(resolve_precision(Precision::Auto).precision, Precision::F32);
}

TEST(PrecisionAuto, ExplicitChoicesAreKept) {
  const PrecisionEnv env("bf16");
  EXPECT_EQ(resolve_precision(Precision::F32).precision, Precision::F32);
  EXPECT_EQ(resolve_precision(Precision::BF16).precision, Precision::BF16);
}

TEST(PrecisionAuto, EnvironmentReplacesAuto) {
  {
    const PrecisionEnv env("bf16");
    const PrecisionChoice c = resolve_precision(Precision::Auto);
    EXPECT_EQ(c.precision, Precision::BF16);
    EXPECT_TRUE(test::contains(c.reason, "IPADAPTER_PRECISION=bf16")) << c.reason;
  }
  {
    const PrecisionEnv env("f16");
    const std::string msg = test::error_of([] { resolve_precision(Precision::Auto); });
    EXPECT_TRUE(test::contains(msg, "IPADAPTER_PRECISION")) << msg;
    EXPECT_TRUE(test::contains(msg, "'f16'")) << msg;
    EXPECT_TRUE(test::contains(msg, "f32, bf16 or auto")) << msg;
  }
}

TEST(PrecisionAuto, RuleForThisCpu) {
  const PrecisionEnv env(nullptr);
  const PrecisionChoice c = resolve_precision(Precision::Auto);
  std::printf("  [precision] auto on this CPU: %s (%s)\n", precision_name(c.precision),
              c.reason.c_str());
  ::testing::Test::RecordProperty("auto_precision", precision_name(c.precision));
  if (!ops::cpu_has_bf16()) {
    EXPECT_EQ(c.precision, Precision::F32);
    EXPECT_TRUE(test::contains(c.reason, "no bf16")) << c.reason;
  } else if (ops::cpu_has_amx_bf16()) {
    EXPECT_EQ(c.precision, Precision::BF16);
    EXPECT_TRUE(test::contains(c.reason, "AMX")) << c.reason;
  } else {
    EXPECT_TRUE(test::contains(c.reason, "ms in bf16")) << c.reason;
    // Measured once per process: asking again gives the same answer.
    EXPECT_EQ(resolve_precision(Precision::Auto).precision, c.precision);
  }
}

TEST(PrecisionAuto, EngineLogsItsChoice) {
  EngineOptions o;
  o.base = test::golden_path("pipeline_sd15/sd15");
  o.ip_adapters = {
      {test::golden_path("pipeline_sd15/IP-Adapter/models/ip-adapter_sd15.safetensors"), ""}};
  std::string log;
  o.log = [&](const std::string& s) { log += s + "\n"; };
  auto engine = Engine::load(o);
  EXPECT_EQ(engine->info().compute.precision, Precision::F32);
  EXPECT_TRUE(test::contains(log, "precision: f32 (IPADAPTER_PRECISION=f32)")) << log;
}

TEST(PrecisionAuto, CliAcceptsAutoAndRefusesOthers) {
  std::string out;
  EXPECT_EQ(test::run_cli({"info"}, &out), 0) << out;
  EXPECT_TRUE(test::contains(out, "precision auto: f32 (IPADAPTER_PRECISION=f32)")) << out;
  EXPECT_NE(test::run_cli({"embed", "--precision", "f16", "--ip-adapter", "x.bin", "--image",
                           "y.png", "--out", "z"},
                          &out),
            0);
  EXPECT_TRUE(test::contains(out, "--precision")) << out;
}

}  // namespace
}  // namespace ipa
