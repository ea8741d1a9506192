// ipadapter: the command-line front end. Subcommands live in cmd_*.cpp.
#include <cstdio>
#include <map>
#include <memory>
#include <vector>

#include "commands.h"
#include "ipadapter/error.h"

namespace ipa::cli {

namespace {
struct Registered {
  std::string name, description;
  CommandSetup setup;
};
std::vector<Registered>& registry() {
  static std::vector<Registered> r;
  return r;
}
}  // namespace

bool register_command(const std::string& name, const std::string& description, CommandSetup setup) {
  registry().push_back({name, description, std::move(setup)});
  return true;
}

}  // namespace ipa::cli

int main(int argc, char** argv) {
  CLI::App app{"ipadapter.cpp — Stable Diffusion with image prompts (IP-Adapter)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ipadapter 0.1.0");
  std::map<CLI::App*, std::function<int()>> runners;
  for (auto& r : ipa::cli::registry()) {
    CLI::App* sub = app.add_subcommand(r.name, r.description);
    runners[sub] = r.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, run] : runners) {
      if (sub->parsed()) return run();
    }
  } catch (const ipa::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 1;
}
