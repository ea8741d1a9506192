// ipa::Engine: the public facade over DiffusionPipeline — one generation at a time per
// engine, each under the engine's own thread count.
#include "ipadapter/engine.h"

#include <mutex>

#include "api/devices.h"
#include "api/model_sources.h"
#include "ops/ops.h"
#include "pipeline/diffusion_pipeline.h"

namespace ipa {

struct Engine::Impl {
  ComputeOptions compute;
  std::mutex mu;  // one generation at a time
  std::unique_ptr<DiffusionPipeline> pipeline;
};

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::load(const EngineOptions& options) {
  if (options.compute.threads < 0) {
    throw Error("compute.threads must be 0 (all cores) or positive, got " +
                std::to_string(options.compute.threads));
  }
  const Device device = open_device(options.compute.device);  // before any slow work
  const ops::ThreadScope threads(options.compute.threads);
  EngineOptions resolved = with_local_model_paths(options);
  const PrecisionChoice precision = resolve_precision_on(device, options.compute.precision);
  resolved.compute.precision = precision.precision;
  if (options.log) {
    options.log("device: " + device.name() + ", precision: " + precision_name(precision.precision) +
                " (" + precision.reason + ")");
  }
  std::unique_ptr<Engine> e(new Engine());
  e->impl_->compute = resolved.compute;
  e->impl_->pipeline = std::make_unique<DiffusionPipeline>(resolved);
  return e;
}

const EngineInfo& Engine::info() const {
  return impl_->pipeline->info();
}

void Engine::check(const GenerateRequest& request) const {
  impl_->pipeline->check(request);
}

GenerateResult Engine::generate(const GenerateRequest& request, const Callbacks& callbacks) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const ops::ThreadScope threads(impl_->compute.threads);
  return impl_->pipeline->generate(request, callbacks);
}

}  // namespace ipa
