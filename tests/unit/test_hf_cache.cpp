// Models by Hugging Face repo id: a hub cache tree built here from the tiny test models (blobs,
// snapshot symlinks into them, refs/main and a second ref), looked up by the resolver, through
// the JSON request and through the CLI; a repo that is not there is an error listing the paths
// searched.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "formats/safetensors.h"
#include "ipadapter/engine.h"
#include "ipadapter/request_json.h"
#include "test_support.h"
#include "weights/hf_cache.h"

namespace fs = std::filesystem;

namespace ipa {
namespace {

const std::string kMain = "1111111111111111111111111111111111111111";
const std::string kV2 = "2222222222222222222222222222222222222222";

// Sets an environment variable for one scope (unset = nullptr).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_.c_str(), old_.c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_, old_;
  bool had_ = false;
};

// Copies every file of `from` into the repo's blobs/ and links it from snapshots/<commit>/<to>,
// as huggingface_hub does (relative symlinks).
void add_to_snapshot(const fs::path& repo, const std::string& commit, const fs::path& from,
                     const std::string& to) {
  auto add_file = [&](const fs::path& src, const fs::path& rel) {
    const fs::path blob =
        repo / "blobs" /
        (commit.substr(0, 8) + "-" + std::to_string(std::hash<std::string>{}(rel.string())));
    fs::create_directories(blob.parent_path());
    fs::copy_file(src, blob, fs::copy_options::overwrite_existing);
    const fs::path link = repo / "snapshots" / commit / rel;
    fs::create_directories(link.parent_path());
    fs::create_symlink(fs::relative(blob, link.parent_path()), link);
  };
  if (fs::is_directory(from)) {
    for (const auto& e : fs::recursive_directory_iterator(from)) {
      if (e.is_regular_file()) add_file(e.path(), fs::path(to) / fs::relative(e.path(), from));
    }
  } else {
    add_file(from, to);
  }
}

void write_ref(const fs::path& repo, const std::string& name, const std::string& commit) {
  fs::create_directories((repo / "refs" / name).parent_path());
  std::ofstream(repo / "refs" / name) << commit;  // huggingface_hub writes no newline
}

// <cache>/models--test-org--IP-Adapter: main holds models/{ip-adapter_sd15.safetensors,
// image_encoder/}; the v2 branch holds only the .bin.
struct Cache {
  fs::path dir;
  fs::path repo;
  Cache() {
    dir = test::temp_dir("hf_cache");
    repo = dir / "models--test-org--IP-Adapter";
    add_to_snapshot(repo, kMain, test::golden_path("embed_variants/ip-adapter_sd15.safetensors"),
                    "models/ip-adapter_sd15.safetensors");
    add_to_snapshot(repo, kMain, test::golden_path("embed_variants/image_encoder"),
                    "models/image_encoder");
    add_to_snapshot(repo, kV2, test::golden_path("embed_variants/ip-adapter_sd15.bin"),
                    "models/ip-adapter_sd15.bin");
    write_ref(repo, "main", kMain);
    write_ref(repo, "v2", kV2);
  }
  fs::path snapshot(const std::string& commit) const { return repo / "snapshots" / commit; }
};

TEST(HfCache, RepoIdsLookLikeRepoIds) {
  for (const char* yes : {"runwayml/stable-diffusion-v1-5", "gpt2", "h94/IP-Adapter/models/x.bin",
                          "a.b/c_d-e/f/g.safetensors"}) {
    EXPECT_TRUE(looks_like_repo_id(yes)) << yes;
  }
  for (const char* no : {"", "/abs/path", "~/models", "./local", "../up", "org/name/../x",
                         "org//name", "-bad/name", "org--x/name", "a\\b/c"}) {
    EXPECT_FALSE(looks_like_repo_id(no)) << no;
  }
}

TEST(HfCache, CacheFolderFollowsHuggingfaceHubsVariables) {
  ScopedEnv a("HF_HUB_CACHE", nullptr), b("HUGGINGFACE_HUB_CACHE", nullptr), c("HF_HOME", nullptr),
      d("XDG_CACHE_HOME", nullptr), e("HOME", "/home/u");
  EXPECT_EQ(hf_hub_cache_dir(), "/home/u/.cache/huggingface/hub");
  ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
  EXPECT_EQ(hf_hub_cache_dir(), "/xdg/huggingface/hub");
  ScopedEnv home("HF_HOME", "/hf");
  EXPECT_EQ(hf_hub_cache_dir(), "/hf/hub");
  ScopedEnv legacy("HUGGINGFACE_HUB_CACHE", "/legacy");
  EXPECT_EQ(hf_hub_cache_dir(), "/legacy");
  ScopedEnv hub("HF_HUB_CACHE", "/hub");
  EXPECT_EQ(hf_hub_cache_dir(), "/hub");
}

TEST(HfCache, ResolvesRepoIdsRevisionsAndPathsInside) {
  const Cache c;
  const std::string cache = c.dir.string();
  const std::string id = "test-org/IP-Adapter";
  // The repo itself, a folder in it, a file in it (a symlink into blobs/ that reads as the file).
  EXPECT_EQ(resolve_model_source(id, "", "", cache), c.snapshot(kMain).string());
  EXPECT_EQ(resolve_model_source(id + "/models/image_encoder", "", "", cache),
            (c.snapshot(kMain) / "models/image_encoder").string());
  const std::string file =
      resolve_model_source(id + "/models/ip-adapter_sd15.safetensors", "", "", cache);
  EXPECT_EQ(file, (c.snapshot(kMain) / "models/ip-adapter_sd15.safetensors").string());
  EXPECT_TRUE(fs::is_symlink(file));
  EXPECT_EQ(read_safetensors(file).tensors.size(),
            read_safetensors(test::golden_path("embed_variants/ip-adapter_sd15.safetensors"))
                .tensors.size());
  // "main" spelled out; a second branch; a commit hash without a ref.
  EXPECT_EQ(resolve_model_source(id, "main", "", cache), c.snapshot(kMain).string());
  EXPECT_EQ(resolve_model_source(id + "/models/ip-adapter_sd15.bin", "v2", "", cache),
            (c.snapshot(kV2) / "models/ip-adapter_sd15.bin").string());
  EXPECT_EQ(resolve_model_source(id, kV2, "", cache), c.snapshot(kV2).string());
  // A local path always wins, relative or absolute, even when it looks like a repo id.
  const std::string local = test::golden_path("embed_variants/ip-adapter_sd15.safetensors");
  EXPECT_EQ(resolve_model_source(local, "", "", cache), local);
  const fs::path cwd_like = fs::path("tests/data/embed_variants/ip-adapter_sd15.safetensors");
  if (fs::exists(cwd_like)) {
    EXPECT_EQ(resolve_model_source(cwd_like.string(), "", "", cache), cwd_like.string());
  }
  // The default cache comes from the environment.
  ScopedEnv hub("HF_HUB_CACHE", cache.c_str());
  EXPECT_EQ(resolve_model_source(id), c.snapshot(kMain).string());
}

TEST(HfCache, WhatIsNotThereIsAnErrorListingThePathsSearched) {
  const Cache c;
  const std::string cache = c.dir.string();
  // A repo that is not in the cache.
  std::string msg = test::error_of([&] {
    resolve_model_source("test-org/Missing/model.safetensors", "", "--ip-adapter", cache);
  });
  for (const std::string& part :
       {std::string("--ip-adapter"), std::string("test-org/Missing/model.safetensors"),
        (c.dir / "models--test-org--Missing").string(), std::string("not in the cache"),
        std::string("Searched"), std::string("no such local file"),
        std::string("nothing is downloaded")}) {
    EXPECT_TRUE(test::contains(msg, part)) << part << " in: " << msg;
  }
  // A file the snapshot lacks (main has the .safetensors only).
  msg = test::error_of([&] {
    resolve_model_source("test-org/IP-Adapter/models/ip-adapter_sd15.bin", "", "", cache);
  });
  EXPECT_TRUE(test::contains(msg, (c.snapshot(kMain) / "models/ip-adapter_sd15.bin").string()))
      << msg;
  EXPECT_TRUE(test::contains(msg, "the snapshot lacks it")) << msg;
  // A branch that does not exist: the ref file searched and the snapshots there are.
  msg = test::error_of([&] { resolve_model_source("test-org/IP-Adapter", "nope", "", cache); });
  EXPECT_TRUE(test::contains(msg, (c.repo / "refs" / "nope").string())) << msg;
  EXPECT_TRUE(test::contains(msg, kMain)) << msg;
  EXPECT_TRUE(test::contains(msg, kV2)) << msg;
  // A commit hash whose snapshot is gone.
  const std::string gone(40, 'a');
  msg = test::error_of([&] { resolve_model_source("test-org/IP-Adapter", gone, "", cache); });
  EXPECT_TRUE(test::contains(msg, (c.repo / "snapshots" / gone).string())) << msg;
  // A ref that holds no commit hash.
  write_ref(c.repo, "broken", "not-a-hash");
  msg = test::error_of([&] { resolve_model_source("test-org/IP-Adapter", "broken", "", cache); });
  EXPECT_TRUE(test::contains(msg, "does not hold a commit hash")) << msg;
  // A path that cannot be a repo id is left for its loader to report; a revision that climbs
  // out of refs/ is refused.
  EXPECT_EQ(resolve_model_source("/no/such/model", "", "--base", cache), "/no/such/model");
  EXPECT_EQ(resolve_model_source("./no/such", "", "--base", cache), "./no/such");
  msg = test::error_of([&] { resolve_model_source("test-org/IP-Adapter", "../x", "", cache); });
  EXPECT_TRUE(test::contains(msg, "invalid revision")) << msg;
}

TEST(HfCache, RequestJsonKeepsRepoIdsAndReadsRevisionAndVariant) {
  const std::string dir = test::temp_dir("hf_request");
  fs::create_directories(fs::path(dir) / "local/model");
  const RequestSources sources = file_request_sources(dir);
  ParsedRequest p = parse_request_json(
      R"({"base": "org/name", "unet": "local/model", "revision": "v2", "variant": "fp16",
          "ip_adapters": [{"file": "h94/IP-Adapter/models/ip-adapter_sd15.safetensors"}]})",
      sources);
  EXPECT_EQ(p.base, "org/name");  // not beside the request: left for the cache
  EXPECT_EQ(p.unet, (fs::path(dir) / "local/model").string());  // beside the request: a path
  EXPECT_EQ(p.ip_adapters.at(0).file, "h94/IP-Adapter/models/ip-adapter_sd15.safetensors");
  EXPECT_EQ(p.revision, "v2");
  EXPECT_EQ(p.variant, "fp16");
  EXPECT_TRUE(test::contains(
      test::error_of([&] { parse_request_json(R"({"revision": 3})", sources); }), "revision"));
}

// Through the CLI: `embed` by repo id finds the adapter and, beside it in the snapshot, its
// encoder; the tokens equal those from the local files. A missing repo fails naming the paths.
TEST(HfCache, CliEmbedByRepoId) {
  const Cache c;
  ScopedEnv hub("HF_HUB_CACHE", c.dir.string().c_str());
  const auto cs = test::load_case("embed_variants");
  const std::string image =
      test::golden_path("embed_variants/" + cs["images"][0]["file"].get<std::string>());
  const std::string out = test::temp_dir("hf_cli") + "/by_id.safetensors";
  const std::string ref = test::temp_dir("hf_cli_ref") + "/local.safetensors";
  std::string text;
  ASSERT_EQ(test::run_cli(
                {"embed", "--ip-adapter", "test-org/IP-Adapter/models/ip-adapter_sd15.safetensors",
                 "--image", image, "--out", out},
                &text),
            0)
      << text;
  EXPECT_TRUE(test::contains(text, (c.snapshot(kMain) / "models/image_encoder").string())) << text;
  ASSERT_EQ(test::run_cli(
                {"embed", "--ip-adapter",
                 test::golden_path("embed_variants/ip-adapter_sd15.safetensors"), "--image-encoder",
                 test::golden_path("embed_variants/image_encoder"), "--image", image, "--out", ref},
                &text),
            0)
      << text;
  const TensorFile a = read_safetensors(out), b = read_safetensors(ref);
  for (const auto& t : b.tensors) {
    ASSERT_NE(a.find(t.name), nullptr) << t.name;
    EXPECT_EQ(a.find(t.name)->to_floats(), t.tensor.to_floats()) << t.name;
  }
  // --revision v2 has no .safetensors adapter; a missing repo lists what was searched.
  EXPECT_EQ(test::run_cli(
                {"embed", "--ip-adapter", "test-org/IP-Adapter/models/ip-adapter_sd15.safetensors",
                 "--revision", "v2", "--image", image, "--out", out},
                &text),
            1);
  EXPECT_TRUE(test::contains(text, (c.snapshot(kV2) / "models").string())) << text;
  EXPECT_EQ(test::run_cli({"embed", "--ip-adapter", "nobody/nothing/ip.safetensors", "--image",
                           image, "--out", out},
                          &text),
            1);
  EXPECT_TRUE(test::contains(text, (c.dir / "models--nobody--nothing").string())) << text;
  EXPECT_TRUE(test::contains(text, "Searched")) << text;
  // inspect takes repo ids too.
  ASSERT_EQ(test::run_cli({"inspect", "--json", "test-org/IP-Adapter/models/image_encoder"}, &text),
            0)
      << text;
  EXPECT_TRUE(test::contains(text, "image-encoder")) << text;
  EXPECT_EQ(test::run_cli({"inspect", "test-org/IP-Adapter", "--revision", "nope"}, &text), 1);
  EXPECT_TRUE(test::contains(text, (c.repo / "refs/nope").string())) << text;
}

// The engine resolves every model path of EngineOptions: a base pipeline and an adapter by repo
// id, the adapter's encoder found beside it in the snapshot.
TEST(HfCache, EngineLoadsBaseAndAdapterByRepoId) {
  const fs::path cache = test::temp_dir("hf_engine");
  const fs::path base = cache / "models--test-org--tiny-sd15";
  const fs::path ip = cache / "models--test-org--IP-Adapter";
  add_to_snapshot(base, kMain, test::golden_path("pipeline_sd15/sd15"), "");
  add_to_snapshot(ip, kV2, test::golden_path("pipeline_sd15/IP-Adapter/models"), "models");
  write_ref(base, "main", kMain);
  write_ref(ip, "v1.0", kV2);  // a tag
  write_ref(base, "v1.0", kMain);
  ScopedEnv hub("HF_HUB_CACHE", cache.string().c_str());
  EngineOptions o;
  o.base = "test-org/tiny-sd15";
  o.ip_adapters = {{"test-org/IP-Adapter/models/ip-adapter_sd15.safetensors", ""}};
  o.revision = "v1.0";
  o.one_shot = true;
  std::string log;
  o.log = [&](const std::string& s) { log += s + "\n"; };
  const auto engine = Engine::load(o);
  EXPECT_EQ(engine->info().base, (base / "snapshots" / kMain).string());
  ASSERT_EQ(engine->info().adapters.size(), 1u);
  EXPECT_EQ(engine->info().adapters[0].image_encoder,
            (ip / "snapshots" / kV2 / "models/image_encoder").string());
  EXPECT_TRUE(test::contains(log, "base: test-org/tiny-sd15 → ")) << log;
  // An unknown variant name is refused before anything is opened.
  o.variant = "../fp16";
  EXPECT_TRUE(test::contains(test::error_of([&] { Engine::load(o); }), "variant"));
}

}  // namespace
}  // namespace ipa
