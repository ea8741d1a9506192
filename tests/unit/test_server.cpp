// `ipadapter serve` in-process on an ephemeral loopback port, driven by an HTTP client: every
// route, the job life cycle on the tiny pipeline_sd15 models (done, cancelled mid-job, queue full),
// and hostile input (malformed and deep JSON, oversized bodies and images, path traversal and
// symbolic links out of the models folder, wrong API keys) — each refused with the status and
// field the docs promise, the server still answering afterwards.
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "ipadapter/io.h"
#include "server/data_url.h"
#include "server/engine_cache.h"
#include "server/server.h"
#include "test_support.h"

namespace ipa {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kKey = "test-key-123";
const char* kBase = "sd15";
const char* kAdapter = "IP-Adapter/models/ip-adapter_sd15.safetensors";

std::string base64(const std::vector<uint8_t>& bytes) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    for (int s = 18; s >= 0; s -= 6) out += a[(v >> s) & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = bytes[i] << 16;
    out += std::string{a[(v >> 18) & 63], a[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += std::string{a[(v >> 18) & 63], a[(v >> 12) & 63], a[(v >> 6) & 63], '='};
  }
  return out;
}

// A PNG as a data: URL; `solid` compresses to almost nothing whatever its size.
std::string png_data_url(int w, int h, bool solid = false) {
  image::Image img(w, h);
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = solid ? 0 : static_cast<uint8_t>(i * 7);
  return "data:image/png;base64," + base64(encode_png(img));
}

// The tiny case's generation size (other tiny models of the same structure have others).
int width() {
  return test::load_case("pipeline_sd15")["generate_kwargs"]["width"];
}
int height() {
  return test::load_case("pipeline_sd15")["generate_kwargs"]["height"];
}

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server::ServerOptions o;
    o.models = test::golden_path("pipeline_sd15");
    o.port = 0;
    o.api_key = kKey;
    o.queue = 2;
    o.max_body_bytes = 1 << 20;
    o.max_image_bytes = 256 << 10;
    o.max_image_pixels = 1024 * 1024;
    o.max_request_pixels = 4 * 1024 * 1024;
    o.max_steps = 1000;
    o.compute.threads = 1;
    server_ = new server::Server(o);
    port_ = server_->start();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  httplib::Client client(bool with_key = true) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60);
    if (with_key) c.set_bearer_token_auth(kKey);
    return c;
  }
  json request(int steps = 3) const {
    return {{"base", kBase},
            {"prompt", "a cat"},
            {"steps", steps},
            {"width", width()},
            {"height", height()},
            {"seed", 1},
            {"ip_adapters", {{{"file", kAdapter}, {"images", {"reference.png"}}, {"scale", 0.5}}}}};
  }
  // (status, body as JSON or null)
  std::pair<int, json> post(const std::string& path, const std::string& body) const {
    auto res = client().Post(path.c_str(), body, "application/json");
    if (!res) return {0, nullptr};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  json wait_finished(const std::string& id) const {
    for (int i = 0; i < 6000; ++i) {
      auto res = client().Get(("/v1/jobs/" + id).c_str());
      if (!res || res->status != 200) return nullptr;
      json j = json::parse(res->body);
      const std::string s = j["state"];
      if (s == "done" || s == "error" || s == "cancelled") return j;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return nullptr;
  }
  json with(const std::string& key, const json& value) const {
    json r = request();
    r[key] = value;
    return r;
  }
  void expect_400(const json& body, const std::string& field, const std::string& part = "") {
    const auto [status, j] = post("/v1/generate", body.dump());
    EXPECT_EQ(status, 400) << body.dump().substr(0, 200) << " → " << j.dump();
    EXPECT_EQ(j.value("field", ""), field) << j.dump();
    if (!part.empty()) {
      EXPECT_TRUE(test::contains(j.value("error", ""), part)) << j.dump();
    }
  }

  static server::Server* server_;
  static int port_;
};
server::Server* ServerTest::server_ = nullptr;
int ServerTest::port_ = 0;

TEST_F(ServerTest, HealthPageAndModelsAnswer) {
  auto c = client(false);
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);  // no key needed
  EXPECT_EQ(json::parse(health->body)["status"], "ok");

  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_TRUE(test::contains(page->body, "<script src=\"/app.js\""));
  EXPECT_TRUE(
      test::contains(page->get_header_value("Content-Security-Policy"), "default-src 'self'"));
  // Nothing on the page is fetched from outside the server.
  for (const char* path : {"/", "/app.js", "/style.css"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << path;
    EXPECT_FALSE(test::contains(r->body, "http://")) << path;
    EXPECT_FALSE(test::contains(r->body, "https://")) << path;
  }

  auto models = client().Get("/v1/models");
  ASSERT_TRUE(models);
  ASSERT_EQ(models->status, 200);
  const json m = json::parse(models->body);
  bool base = false, adapter = false;
  for (const auto& e : m["models"]) {
    base |= e["path"] == kBase && e["kind"] == "diffusers-pipeline";
    adapter |= e["path"] == kAdapter && e["kind"] == "ip-adapter";
    // Answers never show where the server keeps its files.
    EXPECT_FALSE(test::contains(e.dump(), fs::canonical(test::golden_dir()).string())) << e.dump();
  }
  EXPECT_TRUE(base) << m.dump();
  EXPECT_TRUE(adapter) << m.dump();
}

TEST_F(ServerTest, ApiKeyIsRequiredOnEveryApiRoute) {
  for (const char* path : {"/v1/models", "/v1/jobs/00"}) {
    auto none = client(false).Get(path);
    ASSERT_TRUE(none);
    EXPECT_EQ(none->status, 401) << path;
    auto c = client(false);
    c.set_bearer_token_auth("wrong-key-123");
    auto wrong = c.Get(path);
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401) << path;
  }
  auto post = client(false).Post("/v1/generate", request().dump(), "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 401);
}

TEST_F(ServerTest, GeneratesAndServesThePngWithItsParameters) {
  const auto [status, body] = post("/v1/generate", request().dump());
  ASSERT_EQ(status, 202) << body.dump();
  const std::string id = body["id"];
  // The event stream ends with `done` after the progress events.
  auto events = client().Get(("/v1/jobs/" + id + "/events").c_str());
  ASSERT_TRUE(events);
  EXPECT_EQ(events->status, 200);
  EXPECT_EQ(events->get_header_value("Content-Type"), "text/event-stream");
  EXPECT_TRUE(test::contains(events->body, "event: done")) << events->body;
  const json job = wait_finished(id);
  ASSERT_EQ(job["state"], "done") << job.dump();
  EXPECT_EQ(job["step"], 3);
  EXPECT_EQ(job["images"], 1);
  EXPECT_TRUE(test::contains(job["parameters"], "Steps: 3")) << job.dump();

  auto png = client().Get(("/v1/jobs/" + id + "/images/0").c_str());
  ASSERT_TRUE(png);
  ASSERT_EQ(png->status, 200);
  EXPECT_EQ(png->get_header_value("Content-Type"), "image/png");
  const image::Image img =
      decode_image(reinterpret_cast<const uint8_t*>(png->body.data()), png->body.size(), "result");
  EXPECT_EQ(img.width, width());
  EXPECT_EQ(img.height, height());
  EXPECT_TRUE(test::contains(png->body, "parameters"));  // the tEXt chunk
  auto missing = client().Get(("/v1/jobs/" + id + "/images/1").c_str());
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  // The same request again gives the same image (the engine is cached and unchanged).
  const auto [status2, body2] = post("/v1/generate", request().dump());
  ASSERT_EQ(status2, 202);
  ASSERT_EQ(wait_finished(body2["id"])["state"], "done");
  auto png2 = client().Get(("/v1/jobs/" + body2["id"].get<std::string>() + "/images/0").c_str());
  ASSERT_TRUE(png2);
  EXPECT_EQ(png2->body, png->body);
}

TEST_F(ServerTest, InlineDataUrlImagesAreAccepted) {
  json r = request();
  r["ip_adapters"][0]["images"] = {png_data_url(40, 30)};
  const auto [status, body] = post("/v1/generate", r.dump());
  ASSERT_EQ(status, 202) << body.dump();
  EXPECT_EQ(wait_finished(body["id"])["state"], "done");
}

TEST_F(ServerTest, CancelsARunningJobAndTheEngineStaysUsable) {
  const auto [status, body] = post("/v1/generate", request(800).dump());
  ASSERT_EQ(status, 202) << body.dump();
  const std::string id = body["id"];
  for (int i = 0; i < 3000; ++i) {  // until it runs its steps
    const json j = json::parse(client().Get(("/v1/jobs/" + id).c_str())->body);
    if (j["step"].get<int>() > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto del = client().Delete(("/v1/jobs/" + id).c_str());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  const json job = wait_finished(id);
  EXPECT_EQ(job["state"], "cancelled") << job.dump();
  EXPECT_LT(job["step"].get<int>(), 800);
  const auto [s2, b2] = post("/v1/generate", request().dump());
  ASSERT_EQ(s2, 202);
  EXPECT_EQ(wait_finished(b2["id"])["state"], "done");
  auto unknown = client().Delete("/v1/jobs/0123");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

TEST_F(ServerTest, AFullQueueAnswers429WithRetryAfter) {
  // One runs, two wait (--queue 2), the next is refused.
  std::vector<std::string> ids;
  int refused = 0;
  std::string retry_after;
  for (int i = 0; i < 5; ++i) {
    auto res = client().Post("/v1/generate", request(800).dump(), "application/json");
    ASSERT_TRUE(res);
    if (res->status == 202) {
      ids.push_back(json::parse(res->body)["id"]);
    } else {
      EXPECT_EQ(res->status, 429);
      retry_after = res->get_header_value("Retry-After");
      ++refused;
    }
  }
  EXPECT_GE(refused, 1);
  EXPECT_GE(std::stoi(retry_after), 1);
  for (const auto& id : ids) client().Delete(("/v1/jobs/" + id).c_str());
  for (const auto& id : ids) EXPECT_EQ(wait_finished(id)["state"], "cancelled");
}

TEST_F(ServerTest, RefusesHostileRequestsNamingTheField) {
  expect_400(with("stepz", 3), "request", "unknown key");
  expect_400(with("steps", "many"), "steps");
  expect_400(with("steps", 100000), "steps");
  expect_400(with("width", 60), "width");
  expect_400(with("base", "../pipeline_sdxl/sdxl"), "base", "leaves");
  expect_400(with("base", "/etc"), "base", "relative");
  expect_400(with("base", "nope"), "base", "no such");
  expect_400(with("out", "x.png"), "out", "not accepted");
  // An error from the engine's check (run before queueing once the engine is loaded) names the
  // scheduler config relative to the models folder.
  const auto [loaded, job] = post("/v1/generate", request().dump());
  ASSERT_EQ(loaded, 202);
  ASSERT_EQ(wait_finished(job["id"])["state"], "done");
  const auto [steps_status, steps_body] = post("/v1/generate", with("steps", 1000).dump());
  EXPECT_EQ(steps_status, 400);
  EXPECT_TRUE(test::contains(steps_body.value("error", ""), "sd15/scheduler")) << steps_body;
  EXPECT_FALSE(
      test::contains(steps_body.value("error", ""), fs::canonical(test::golden_dir()).string()))
      << steps_body;
  json r = request();
  r.erase("base");
  expect_400(r, "base", "required");
  r = request();
  r["ip_adapters"][0]["images"] = {"../../../../etc/passwd"};
  expect_400(r, "ip_adapters[0].images[0]", "leaves");
  r["ip_adapters"][0]["images"] = {"data:image/png;base64,!!!!"};
  expect_400(r, "ip_adapters[0].images[0]", "base64");
  r["ip_adapters"][0]["images"] = {"data:text/html;base64,AAAA"};
  expect_400(r, "ip_adapters[0].images[0]", "type");
  r["ip_adapters"][0]["images"] = {"data:image/png;base64,AAAAAAAA"};
  expect_400(r, "ip_adapters[0].images[0]", "not a PNG");
  r["ip_adapters"][0]["images"] = {png_data_url(1025, 1024, true)};  // > 1024 x 1024 pixels
  expect_400(r, "ip_adapters[0].images[0]", "too large");
  r["ip_adapters"][0]["images"] = {"data:image/png;base64," + std::string(400 << 10, 'A')};
  expect_400(r, "ip_adapters[0].images[0]", "limit");
  // Five images of 1024 x 1024 pixels: each within the limit, together over the request's.
  r["ip_adapters"][0]["images"] = json::array();
  for (int i = 0; i < 5; ++i)
    r["ip_adapters"][0]["images"].push_back(png_data_url(1024, 1024, true));
  expect_400(r, "ip_adapters[0].images[4]", "in all");
  r["ip_adapters"][0]["scale"] = {{"down", {{"block_x", 1}}}};
  r["ip_adapters"][0]["images"] = {"reference.png"};
  expect_400(r, "ip_adapters[0].scale.down.block_x");

  for (const std::string& body :
       {std::string("{\"base\": "), std::string("[1, 2"), std::string("\xff\xfe"), std::string(""),
        std::string("null"), std::string("{\"width\": 1e400}")}) {  // found by fuzz_request_json
    const auto [status, j] = post("/v1/generate", body);
    EXPECT_EQ(status, 400) << body;
    EXPECT_TRUE(j.contains("error")) << body;
  }
  const auto [deep, dj] = post("/v1/generate", std::string(40, '[') + std::string(40, ']'));
  EXPECT_EQ(deep, 400);
  EXPECT_TRUE(test::contains(dj.value("error", ""), "nests deeper")) << dj.dump();
  const auto [big, bj] = post("/v1/generate", std::string(2 << 20, ' '));
  EXPECT_EQ(big, 413) << bj.dump();
  // Still serving.
  auto h = client(false).Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

TEST_F(ServerTest, EmbedAnswersTheImageTokens) {
  const json body = {{"ip_adapter", kAdapter}, {"images", {"reference.png", png_data_url(32, 32)}}};
  const auto [status, j] = post("/v1/embed", body.dump());
  ASSERT_EQ(status, 200) << j.dump();
  const auto& cond = j["image_prompt_embeds"];
  ASSERT_EQ(cond["shape"].size(), 3u);
  EXPECT_EQ(cond["shape"][0], 2);
  EXPECT_EQ(cond["data"].size(), cond["shape"][0].get<size_t>() * cond["shape"][1].get<size_t>() *
                                     cond["shape"][2].get<size_t>());
  const auto [bad, bj] = post("/v1/embed", json{{"ip_adapter", "../x"}, {"images", {"a"}}}.dump());
  EXPECT_EQ(bad, 400);
  EXPECT_EQ(bj.value("field", ""), "ip_adapter");
}

TEST(ServerModelRoot, RefusesSymbolicLinksOutOfTheModelsFolder) {
  const std::string dir = test::temp_dir("server_root");
  fs::create_directories(dir + "/models/inside");
  std::ofstream(dir + "/secret.png") << "x";
  std::ofstream(dir + "/models/inside/ok.png") << "x";
  fs::create_symlink(dir + "/secret.png", dir + "/models/link.png");
  fs::create_symlink(dir, dir + "/models/up");
  fs::create_symlink("inside/ok.png", dir + "/models/fine.png");
  server::ServerOptions o;
  o.models = dir + "/models";
  o.port = 0;
  server::Server s(o);
  httplib::Client c("127.0.0.1", s.start());
  for (const char* path : {"link.png", "up/secret.png", "up/models/link.png"}) {
    const json r = {{"base", "inside"}, {"init_image", path}};
    auto res = c.Post("/v1/generate", r.dump(), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << path;
    const json j = json::parse(res->body);
    EXPECT_EQ(j.value("field", ""), "init_image") << j.dump();
    EXPECT_TRUE(test::contains(j.value("error", ""), "leaves")) << j.dump();
  }
  // A link that stays inside resolves (and then fails as an image, not as a path).
  auto res = c.Post("/v1/generate", json{{"base", "inside"}, {"init_image", "fine.png"}}.dump(),
                    "application/json");
  ASSERT_TRUE(res);
  EXPECT_TRUE(test::contains(res->body, "not a PNG")) << res->body;
}

// Event streams may take at most half the connection threads: the rest stay free for /health.
TEST(ServerStreams, AtMostHalfTheConnectionThreadsStream) {
  server::ServerOptions o;
  o.models = test::golden_path("pipeline_sd15");
  o.port = 0;
  o.http_threads = 4;
  o.max_steps = 1000;
  o.compute.threads = 1;
  server::Server s(o);
  const int port = s.start();
  httplib::Client c("127.0.0.1", port);
  const json r = {{"base", kBase},
                  {"steps", 900},
                  {"width", width()},
                  {"height", height()},
                  {"ip_adapters", {{{"file", kAdapter}, {"images", {"reference.png"}}}}}};
  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    auto res = c.Post("/v1/generate", r.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 202);
    ids.push_back(json::parse(res->body)["id"]);
  }
  // Two streams on the queued job, open until it ends.
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([&, i] {
      httplib::Client sc("127.0.0.1", port);
      sc.Get(("/v1/jobs/" + ids[1] + "/events").c_str());
      (void)i;
    });
  }
  int open = 0;
  for (int i = 0; i < 500 && open < 2; ++i) {
    open = json::parse(c.Get("/health")->body)["event_streams"];
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(open, 2);
  auto third = c.Get(("/v1/jobs/" + ids[1] + "/events").c_str());
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 503);
  EXPECT_EQ(third->get_header_value("Retry-After"), "1");
  auto health = c.Get("/health");  // still answered
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  for (const auto& id : ids) c.Delete(("/v1/jobs/" + id).c_str());
  for (auto& t : readers) t.join();  // the streams end with their jobs...
  // ...and their slots are released once the server has finished with the connections.
  for (int i = 0; i < 1000 && open > 0; ++i) {
    open = json::parse(c.Get("/health")->body)["event_streams"];
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(open, 0);
}

// The cache keeps what fits the budget, evicts the least recently used, and an evicted engine
// a caller still holds keeps working.
TEST(ServerEngineCache, EvictsLeastRecentlyUsedWithinTheBudget) {
  EngineOptions e;
  e.base = test::golden_path("pipeline_sd15/sd15");
  e.ip_adapters = {{test::golden_path("pipeline_sd15/" + std::string(kAdapter)), ""}};
  e.compute.threads = 1;
  EmbedderOptions b;
  b.ip_adapter = e.ip_adapters[0].file;
  b.compute.threads = 1;
  const uint64_t engine_files = server::weights_bytes(e.base) + server::weights_bytes(b.ip_adapter);
  ASSERT_GT(engine_files, 0u);
  // Room for the engine's files, not for it and the embedder together.
  server::EngineCache cache(engine_files + server::weights_bytes(b.ip_adapter) / 2, {});
  const std::shared_ptr<Engine> engine = cache.engine(e);
  EXPECT_EQ(cache.engine(e), engine);  // cached
  EXPECT_EQ(cache.find_engine(e), engine);
  EXPECT_EQ(cache.stats().loads, 1);
  const auto embedder = cache.embedder(b);
  ASSERT_TRUE(embedder);
  const server::CacheStats s = cache.stats();
  EXPECT_EQ(s.loads, 2);
  EXPECT_EQ(s.evictions, 1);
  EXPECT_EQ(s.entries, 1);
  EXPECT_EQ(cache.find_engine(e), nullptr);  // evicted...
  GenerateRequest r;
  r.steps = 2;
  r.width = width();
  r.height = height();
  r.image_prompts = {{{read_image(test::golden_path("pipeline_sd15/reference.png"))}, 0.5f}};
  EXPECT_EQ(engine->generate(r).images.size(), 1u);  // ...but still usable by its holder

  server::EngineCache tiny(engine_files / 2, {});
  EXPECT_TRUE(test::contains(test::error_of([&] { tiny.engine(e); }), "--max-memory"));
}

TEST(ServerDataUrl, DecodesBase64AndRefusesTheRest) {
  EXPECT_EQ(server::decode_image_data_url("data:image/png;base64,AAEC", "f", 100),
            (std::vector<uint8_t>{0, 1, 2}));
  EXPECT_EQ(server::decode_image_data_url("data:image/webp;base64,AAE=", "f", 100),
            (std::vector<uint8_t>{0, 1}));
  for (const char* bad :
       {"data:image/png,AAEC", "data:image/gif;base64,AAEC", "data:image/png;base64,A",
        "data:image/png;base64,AA=A", "data:image/png;base64", "image/png;base64,AAEC"}) {
    EXPECT_THROW(server::decode_image_data_url(bad, "f", 100), Error) << bad;
  }
  EXPECT_THROW(server::decode_image_data_url("data:image/png;base64,AAECAAEC", "f", 5), Error);
}

}  // namespace
}  // namespace ipa
