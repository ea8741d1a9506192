/* ipadapter.cpp: the C API (C11), libipadapter.so. docs/c-api.md has the whole story.
 *
 *   ipadapter_engine_params p = ipadapter_engine_default_params();
 *   p.root = "models";   // relative paths in the JSON resolve against this folder
 *   const char* req = "{\"base\": \"sd15\", \"prompt\": \"a cat\", \"steps\": 20,"
 *                     " \"ip_adapters\": [{\"file\": \"ip-adapter_sd15.bin\","
 *                     "                    \"images\": [\"cat.png\"], \"scale\": 0.6}]}";
 *   ipadapter_engine* e = ipadapter_engine_load(req, &p);           // NULL on error
 *   ipadapter_result* r = NULL;
 *   if (!e || ipadapter_generate(e, req, NULL, &r) != IPADAPTER_OK)
 *     fprintf(stderr, "%s\n", ipadapter_last_error());
 *   ipadapter_image img = ipadapter_result_image(r, 0);             // RGB, owned by r
 *   ipadapter_result_free(r);
 *   ipadapter_engine_free(e);
 *
 * Requests are JSON in the one request schema of `ipadapter generate --request` and the server
 * (docs/request.md): the engine loads the models a request names (base, ip_adapters[].file /
 * image_encoder, unet, controlnets[].file / config, threads, precision, device), and every
 * generation takes a whole request, whose models must be the loaded ones.
 *
 * Errors: a function that fails returns NULL or a status other than IPADAPTER_OK, and
 * ipadapter_last_error() gives its message. No C++ exception leaves the library.
 *
 * Threads: an engine runs one generation at a time (concurrent ipadapter_generate calls on one
 * engine wait for each other); different engines may generate at once from different threads.
 * Callbacks run on the thread that called the function that takes them. */
#ifndef IPADAPTER_H
#define IPADAPTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, "MAJOR.MINOR.PATCH" (the project version; the SONAME carries
 * MAJOR.MINOR). */
const char* ipadapter_version(void);

typedef enum ipadapter_status {
  IPADAPTER_OK = 0,
  IPADAPTER_ERROR = 1,         /* bad input, a bad or missing file, a request the models refuse */
  IPADAPTER_CANCELLED = 2,     /* the progress callback returned false; the engine is usable */
  IPADAPTER_OUT_OF_MEMORY = 3, /* an allocation failed */
} ipadapter_status;

/* "ok", "error", "cancelled", "out of memory" (static text). */
const char* ipadapter_status_name(ipadapter_status status);

/* The message of the last call on this thread that failed (static-duration storage, per thread;
 * valid until the next call on this thread fails); "" when none has. It names the file, the
 * request field, and what was expected and found. */
const char* ipadapter_last_error(void);

/* Log lines (what was loaded, warnings about a request). */
typedef void (*ipadapter_log_fn)(const char* message, void* user);

/* After each denoising step: `step` steps of `total` done. Return false to cancel: the
 * generation stops before the next step and returns IPADAPTER_CANCELLED. It must not unwind
 * (longjmp) through the library. */
typedef bool (*ipadapter_progress_fn)(int step, int total, void* user);

typedef struct ipadapter_engine_params {
  /* The folder relative paths in requests resolve against (models, images, init latents).
   * NULL or "" = the current directory. Copied by ipadapter_engine_load. */
  const char* root;
  /* Load each model only for the phase that needs it, for one generation (lower peak memory,
   * as the CLI's `generate`); a second ipadapter_generate is then an error. */
  bool one_shot;
  ipadapter_log_fn log; /* NULL = no log */
  void* log_user;       /* passed to log */
} ipadapter_engine_params;

/* root NULL, one_shot false, no log. */
ipadapter_engine_params ipadapter_engine_default_params(void);

typedef struct ipadapter_engine ipadapter_engine;

/* Loads and checks the models a request names (a JSON text in the request schema). The rest of
 * the request is parsed and checked but not used (its images are not decoded), so the same text
 * may be given to ipadapter_generate. `base` is required. params NULL = the defaults. Returns
 * NULL on error (ipadapter_last_error). */
ipadapter_engine* ipadapter_engine_load(const char* request_json,
                                        const ipadapter_engine_params* params);

/* Frees the engine and its models; NULL is ignored. Not while a generation runs on it. */
void ipadapter_engine_free(ipadapter_engine* engine);

/* What the engine loaded, as a JSON object: family ("sd15" | "sdxl"), base, pipeline_class,
 * scheduler_class, default_width, default_height, default_cfg, unet_in_channels, threads,
 * precision, device, adapters [{file, image_encoder, variant, tokens_per_image, width}],
 * controlnets. Owned by the engine, valid until ipadapter_engine_free; NULL on error. */
const char* ipadapter_engine_info_json(const ipadapter_engine* engine);

typedef struct ipadapter_generate_params {
  ipadapter_progress_fn progress; /* NULL = no progress and no cancel */
  void* progress_user;            /* passed to progress */
} ipadapter_generate_params;

/* No progress callback. */
ipadapter_generate_params ipadapter_generate_default_params(void);

typedef struct ipadapter_result ipadapter_result;

/* One generation from a request (JSON, docs/request.md). Its models must be the engine's: `base`,
 * `unet`, `threads`, `precision` and `device` may be left out, but `ip_adapters` and `controlnets`
 * list the loaded ones in order (their images and settings are per request). The request's `out`
 * and `dump_latents` are ignored (write the images with ipadapter_result_write_png). params NULL =
 * no callback. On IPADAPTER_OK *result is a new result to free with ipadapter_result_free;
 * otherwise *result is NULL. */
ipadapter_status ipadapter_generate(ipadapter_engine* engine, const char* request_json,
                                    const ipadapter_generate_params* params,
                                    ipadapter_result** result);

/* An 8-bit RGB image: height rows of width * 3 bytes, no padding. */
typedef struct ipadapter_image {
  int width;
  int height;
  const uint8_t* rgb; /* owned by the result it came from */
} ipadapter_image;

/* The number of images (the request's num_images); 0 for NULL. */
int ipadapter_result_count(const ipadapter_result* result);

/* Image `index`; {0, 0, NULL} when out of range. Valid until ipadapter_result_free. */
ipadapter_image ipadapter_result_image(const ipadapter_result* result, int index);

/* The A1111-style `parameters` text (prompt, steps, sampler, CFG, seed, size, model, adapters
 * and scales), as the CLI writes into its PNGs. Valid until ipadapter_result_free. */
const char* ipadapter_result_parameters(const ipadapter_result* result);

/* Writes image `index` as a PNG with the parameters in a `parameters` text chunk. */
ipadapter_status ipadapter_result_write_png(const ipadapter_result* result, int index,
                                            const char* path);

/* Frees the result and its images; NULL is ignored. Any thread. */
void ipadapter_result_free(ipadapter_result* result);

#ifdef __cplusplus
}
#endif

#endif /* IPADAPTER_H */
