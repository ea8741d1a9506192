/* The C API in one program: load the models a JSON request names, generate with a progress
 * line, write the PNG(s) with their `parameters` text.
 *
 *   generate REQUEST.json OUT.png
 *
 * The request is the schema of `ipadapter generate --request` (docs/request.md); relative paths
 * in it resolve against the request file's folder, as with the CLI. tiny_sd15.json beside this
 * file runs the tiny random SD1.5 model of tests/data. */
#include <ipadapter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file as a NUL-terminated string (NULL on failure). */
static char* read_text(const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  char* text = NULL;
  size_t size = 0;
  char buffer[65536];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, f)) > 0) {
    char* grown = realloc(text, size + n + 1);
    if (!grown) {
      free(text);
      fclose(f);
      return NULL;
    }
    text = grown;
    memcpy(text + size, buffer, n);
    size += n;
  }
  const int failed = ferror(f);
  fclose(f);
  if (failed || !text) {
    free(text);
    return NULL;
  }
  text[size] = '\0';
  return text;
}

/* "dir/name.json" -> "dir"; "name.json" -> "" (the current directory). */
static char* folder_of(const char* path) {
  const char* slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) : 0;
  if (slash == path) n = 1; /* "/name.json" -> "/" */
  char* folder = malloc(n + 1);
  if (!folder) return NULL;
  memcpy(folder, path, n);
  folder[n] = '\0';
  return folder;
}

/* OUT.png for the first image, OUT_1.png, OUT_2.png, ... for the others (as the CLI names them). */
static void output_name(char* name, size_t size, const char* out, int index) {
  const char* dot = strrchr(out, '.');
  const char* slash = strrchr(out, '/');
  if (index == 0) {
    snprintf(name, size, "%s", out);
  } else if (dot && (!slash || dot > slash)) {
    snprintf(name, size, "%.*s_%d%s", (int)(dot - out), out, index, dot);
  } else {
    snprintf(name, size, "%s_%d", out, index);
  }
}

static bool on_progress(int step, int total, void* user) {
  (void)user;
  fprintf(stderr, "\rstep %d/%d", step, total);
  if (step == total) fputc('\n', stderr);
  return true; /* false would cancel the generation */
}

static void on_log(const char* message, void* user) {
  (void)user;
  fprintf(stderr, "%s\n", message);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s REQUEST.json OUT.png\n(libipadapter %s)\n", argv[0],
            ipadapter_version());
    return 2;
  }
  char* request = read_text(argv[1]);
  char* root = folder_of(argv[1]);
  if (!request || !root) {
    fprintf(stderr, "%s: cannot read the file\n", argv[1]);
    free(request);
    free(root);
    return 1;
  }

  ipadapter_engine_params engine_params = ipadapter_engine_default_params();
  engine_params.root = root;
  engine_params.log = on_log;
  ipadapter_engine* engine = ipadapter_engine_load(request, &engine_params);
  if (!engine) {
    fprintf(stderr, "%s: %s\n", argv[1], ipadapter_last_error());
    free(request);
    free(root);
    return 1;
  }

  ipadapter_generate_params generate_params = ipadapter_generate_default_params();
  generate_params.progress = on_progress;
  ipadapter_result* result = NULL;
  const ipadapter_status status = ipadapter_generate(engine, request, &generate_params, &result);
  int rc = 0;
  if (status != IPADAPTER_OK) {
    fprintf(stderr, "%s: %s: %s\n", argv[1], ipadapter_status_name(status), ipadapter_last_error());
    rc = 1;
  }
  for (int i = 0; i < ipadapter_result_count(result); ++i) {
    char name[4096];
    output_name(name, sizeof name, argv[2], i);
    const ipadapter_image image = ipadapter_result_image(result, i);
    if (ipadapter_result_write_png(result, i, name) != IPADAPTER_OK) {
      fprintf(stderr, "%s\n", ipadapter_last_error());
      rc = 1;
      break;
    }
    printf("wrote %s (%dx%d)\n", name, image.width, image.height);
  }
  ipadapter_result_free(result);
  ipadapter_engine_free(engine);
  free(request);
  free(root);
  return rc;
}
