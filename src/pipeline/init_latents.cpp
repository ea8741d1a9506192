#include "pipeline/init_latents.h"

#include "image/binary_mask.h"
#include "image/vae_image.h"
#include "ops/ops.h"

namespace ipa {

namespace {

// [1, ...] → [n, ...] (diffusers repeats one encoded image for every image of the batch).
Tensor repeat_batch(const Tensor& x, int64_t n) {
  if (n == 1) return x;
  return ops::concat(std::vector<Tensor>(static_cast<size_t>(n), x), 0);
}

// 0.18215 · vae.encode(pixels).latent_dist.sample(generator) (UNet space): one draw of the
// posterior's shape.
Tensor sample_latents(const vae::AutoencoderKL& vae, const Tensor& pixels,
                      const vae::TilingOptions& tiling, sampling::NoiseSource& generator) {
  // Pixels (a host input) go to the VAE's device and the latents come back: between the
  // steps they live on the host, where the scheduler runs.
  const vae::LatentDistribution dist = vae.encode(pixels.to(vae.device()), tiling);
  const Tensor noise = generator.randn(dist.mean.shape()).to(vae.device());
  return vae.to_unet_latents(dist.sample(noise)).to(Device{});
}

std::string size_text(int w, int h) {
  return std::to_string(w) + "x" + std::to_string(h);
}

}  // namespace

double default_strength(Task task, ModelFamily family) {
  const bool xl = family == ModelFamily::SDXL;
  if (task == Task::Inpaint) return xl ? 0.9999 : 1.0;
  return xl ? 0.3 : 0.8;
}

InitImages prepare_init_images(const GenerateRequest& r, Task task, int width, int height,
                               const LogFn& warn) {
  InitImages out;
  if (task == Task::Txt2Img) return out;
  const image::Image& init = *r.init_image;
  if (task == Task::Img2Img) {
    out.pixels = image::vae_pixels(init, width, height);
    return out;
  }
  image::Image mask = *r.mask;
  const bool crop = r.padding_mask_crop > 0;
  if (mask.width != init.width || mask.height != init.height) {
    // diffusers resizes both to the output size on their own; the crop and the overlay need
    // them aligned first.
    if (warn) {
      warn("warning: the mask is " + size_text(mask.width, mask.height) + ", the init image " +
           size_text(init.width, init.height) + ": the mask is resized (Lanczos) to the image");
    }
    mask = image::resized_to(mask, init.width, init.height);
  }
  if (r.mask_blur > 0) mask = image::gaussian_blur(mask, r.mask_blur);
  image::Image pixels_src = init, mask_src = mask;
  if (crop) {
    const image::CropBox box = image::mask_crop_region(mask, width, height, r.padding_mask_crop);
    if (box.width() <= 0 || box.height() <= 0) {
      throw Error(
          "padding_mask_crop (--padding-mask-crop): the mask is all black, so it has no region to "
          "crop");
    }
    out.crop = box;
    pixels_src = image::resize_fill(image::crop(init, box), width, height);
    mask_src = image::resize_fill(image::crop(mask, box), width, height);
  }
  out.pixels = image::vae_pixels(pixels_src, width, height);
  const Tensor m = image::binary_mask(mask_src, width, height);
  if (image::mask_is_empty(m) && warn) {
    warn("warning: the mask (--mask) is all black: nothing will be repainted");
  }
  out.mask = m.reshape({1, 1, height, width});
  // masked_image = init × (mask < 0.5): the region to repaint set to 0
  const Tensor keep = ops::sub(Tensor::from_vector({1}, {1.f}), out.mask);
  out.masked_pixels = ops::mul(out.pixels, keep);
  out.overlay = crop || r.keep_unmasked;
  if (out.overlay) {
    const bool same_size = init.width == width && init.height == height;
    out.original = crop || same_size ? init : image::resized_to(init, width, height);
    out.original_mask = crop || same_size ? mask : image::resized_to(mask, width, height);
  }
  return out;
}

StartLatents start_latents(const StartSettings& s, const InitImages& images,
                           const vae::AutoencoderKL* vae, const vae::TilingOptions& tiling,
                           sampling::Scheduler& scheduler, sampling::NoiseSource& generator) {
  StartLatents out;
  const int64_t n = s.latent_shape.at(0);
  if (s.task == Task::Txt2Img) {
    out.latents = s.given_latents ? *s.given_latents : generator.randn(s.latent_shape);
    out.latents = ops::scale(out.latents, scheduler.init_noise_sigma());
    return out;
  }
  out.first_step = scheduler.first_step_for_strength(s.strength);
  if (out.first_step >= scheduler.timesteps().size()) {
    throw Error("strength (--strength) " + std::to_string(s.strength) + " with " +
                std::to_string(scheduler.num_inference_steps()) +
                " steps leaves no step to run (int(steps · strength) must be at least 1)");
  }
  if (s.task == Task::Img2Img) {
    // diffusers' draws: the posterior sample, then the noise.
    out.image_latents = repeat_batch(sample_latents(*vae, images.pixels, tiling, generator), n);
    out.noise = generator.randn(s.latent_shape);
    out.latents = scheduler.add_noise(out.image_latents, out.noise, out.first_step);
    return out;
  }
  // Inpainting. diffusers encodes the init image only when the blend needs it (ordinary UNet)
  // or when the start is not pure noise; then the noise; then the masked image.
  const bool strength_max = s.strength == 1.0;
  if (!s.nine_channel || !strength_max) {
    out.image_latents = repeat_batch(sample_latents(*vae, images.pixels, tiling, generator), n);
  }
  out.noise = generator.randn(s.latent_shape);
  out.latents = strength_max ? ops::scale(out.noise, scheduler.init_noise_sigma())
                             : scheduler.add_noise(out.image_latents, out.noise, out.first_step);
  out.masked_image_latents =
      repeat_batch(sample_latents(*vae, images.masked_pixels, tiling, generator), n);
  out.mask_latent = repeat_batch(
      ops::interpolate(images.mask, s.latent_shape[2], s.latent_shape[3], ops::Interp::Nearest), n);
  return out;
}

void add_inpaint_hooks(const StartLatents& start, bool nine_channel, bool guidance,
                       const sampling::Scheduler& scheduler, DenoiseHooks* hooks) {
  if (nine_channel) {
    const Tensor mask =
        guidance ? ops::concat({start.mask_latent, start.mask_latent}, 0) : start.mask_latent;
    const Tensor masked =
        guidance ? ops::concat({start.masked_image_latents, start.masked_image_latents}, 0)
                 : start.masked_image_latents;
    hooks->before_unet.push_back([mask, masked](size_t, unet::UNetInputs& in) {
      // The extra channels live on the host: copied to the UNet's device per step (small).
      const Device d = in.sample.device();
      in.sample = ops::concat({in.sample, mask.to(d), masked.to(d)}, 1);
    });
    return;
  }
  // Legacy blend: after step i the unmasked region is reset to the init latents noised to the
  // next step's level (the init latents themselves after the last step).
  const Tensor keep = ops::sub(Tensor::from_vector({1}, {1.f}), start.mask_latent);
  hooks->after_step.push_back([&scheduler, start, keep](size_t step, Tensor& latents) {
    const bool last = step + 1 >= scheduler.timesteps().size();
    const Tensor init = last ? start.image_latents
                             : scheduler.add_noise(start.image_latents, start.noise, step + 1);
    latents = ops::add(ops::mul(keep, init), ops::mul(start.mask_latent, latents));
  });
}

image::Image finish_image(const InitImages& images, const image::Image& generated) {
  if (!images.overlay) return generated;
  return image::overlay_unmasked(images.original_mask, images.original, generated, images.crop);
}

}  // namespace ipa
