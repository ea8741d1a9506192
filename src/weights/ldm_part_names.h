// Key names of the VAE and text encoders of an original single-file Stable Diffusion
// checkpoint (CompVis LDM / Stability SGM layout) → the names our models read (diffusers
// AutoencoderKL, transformers CLIPTextModel[WithProjection]), as diffusers' from_single_file
// converts them (single_file_utils.py: convert_ldm_vae_checkpoint, convert_ldm_clip_checkpoint,
// convert_open_clip_checkpoint). The UNet's names are weights/ldm_unet_names.h.
//
// Each function takes one key relative to its model's prefix in the file (e.g. without
// "first_stage_model.") and its tensor, and returns what the model reads:
//   nullopt      the key is not one of that model's (the caller reports it);
//   empty        a known key the model does not read (OpenCLIP's logit_scale);
//   1 or more    renamed tensors (views of the file's tensor where the layout allows).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "formats/tensor_file.h"

namespace ipa {

using ConvertedTensors = std::optional<std::vector<NamedTensor>>;

// VAE (`first_stage_model.`): encoder.down.{i}.block.{j} → encoder.down_blocks.{i}.resnets.{j},
// down.{i}.downsample → downsamplers.0, decoder.up.{n-1-i} → decoder.up_blocks.{i} (LDM counts
// the decoder from the lowest resolution), mid.block_{1,2} → mid_block.resnets.{0,1},
// mid.attn_1.{norm,q,k,v,proj_out} → mid_block.attentions.0.{group_norm,to_q,to_k,to_v,to_out.0}
// with the 1×1-conv weights [C, C, 1, 1] reshaped to Linear [C, C], norm_out → conv_norm_out,
// nin_shortcut → conv_shortcut; a training loss (loss.*) is known and not read. `blocks` =
// len(block_out_channels) from the VAE config.
ConvertedTensors ldm_vae_tensor(const std::string& key, const Tensor& tensor, int64_t blocks);

// A transformers CLIPTextModel saved inside the checkpoint (`cond_stage_model.transformer.`,
// `conditioner.embedders.0.transformer.`): the names are transformers' already; old files
// without the `text_model.` level get it.
ConvertedTensors ldm_clip_text_tensor(const std::string& key, const Tensor& tensor);

// OpenCLIP's text tower (`conditioner.embedders.1.model.`, SDXL's ViT-bigG) →
// CLIPTextModelWithProjection: transformer.resblocks.{i} → text_model.encoder.layers.{i}
// (ln_1/ln_2 → layer_norm1/2, mlp.c_fc/c_proj → mlp.fc1/fc2, attn.out_proj →
// self_attn.out_proj, the fused attn.in_proj_weight/bias [3D, D] → q_proj/k_proj/v_proj, rows
// split in thirds), token_embedding, positional_embedding → position_embedding.weight,
// ln_final → final_layer_norm, text_projection [D, P] → text_projection.weight [P, D]
// (transposed: OpenCLIP multiplies x @ P, a Linear computes x @ W^T).
ConvertedTensors open_clip_text_tensor(const std::string& key, const Tensor& tensor);

// Part `index` (0 = q, 1 = k, 2 = v) of a fused in-projection [3D, ...] → [D, ...] (a view).
Tensor split_in_proj(const Tensor& fused, int index, const std::string& key);

}  // namespace ipa
