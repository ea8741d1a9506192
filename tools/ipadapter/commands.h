// Each cmd_<name>.cpp registers one subcommand with the CLI at static-initialisation time.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace ipa::cli {

// `setup` adds options to the subcommand and returns the function that runs it (exit code).
using CommandSetup = std::function<std::function<int()>(CLI::App& sub)>;
bool register_command(const std::string& name, const std::string& description, CommandSetup setup);

}  // namespace ipa::cli
