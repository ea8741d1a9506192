#include "pipeline/denoise.h"

#include "ops/ops.h"
#include "sampling/guidance.h"

namespace ipa {

Tensor denoise(const unet::UNet2DConditionModel& unet, sampling::Scheduler& scheduler,
               Tensor latents, const DenoiseConditioning& c, const DenoiseSettings& s,
               sampling::NoiseSource* noise, const DenoiseHooks& hooks,
               std::vector<Tensor>* step_latents) {
  const auto& timesteps = scheduler.timesteps();
  const int total = static_cast<int>(timesteps.size() - s.first_step);
  for (size_t i = s.first_step; i < timesteps.size(); ++i) {
    Tensor x = s.guidance ? ops::concat({latents, latents}, 0) : latents;
    unet::UNetInputs in;
    // The scheduler runs on the host: the latents go to the UNet's device (that of the text
    // conditioning) and its noise prediction comes back, one copy each way per step
    // ([B, 4, H/8, W/8] floats; no-ops on the host).
    in.sample = scheduler.scale_model_input(x, i).to(c.text.device());
    in.timestep = Tensor::from_vector({1}, {static_cast<float>(timesteps[i])});
    in.text = c.text;
    in.text_embeds = c.added.text_embeds;
    in.time_ids = c.added.time_ids;
    in.cross_attention = c.cross_attention;
    for (const auto& hook : hooks.before_unet) hook(i, in);
    Tensor noise_pred = unet.forward(in).to(Device{});
    if (s.guidance) noise_pred = sampling::classifier_free_guidance(noise_pred, s.cfg);
    latents = scheduler.step(noise_pred, i, latents, noise).prev_sample;
    for (const auto& hook : hooks.after_step) hook(i, latents);
    if (step_latents) step_latents->push_back(latents.clone());
    const int done = static_cast<int>(i + 1 - s.first_step);
    if (hooks.on_step && !hooks.on_step(done, total)) {
      throw Cancelled("generation cancelled after step " + std::to_string(done) + " of " +
                      std::to_string(total));
    }
  }
  return latents;
}

}  // namespace ipa
