#include "weights/hf_cache.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "base/error.h"

namespace fs = std::filesystem;

namespace ipa {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t slash = s.find('/', start);
    parts.push_back(
        s.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) return parts;
    start = slash + 1;
  }
}

// huggingface_hub's repo name rule: letters, digits, '-', '_', '.'; no "--" or ".." (the cache
// folder name joins org and name with "--").
bool valid_repo_part(const std::string& s) {
  if (s.empty() || s.size() > 96 || s.front() == '-' || s.front() == '.') return false;
  if (s.find("--") != std::string::npos || s.find("..") != std::string::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

bool valid_path_part(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('\\') == std::string::npos;
}

bool is_commit_hash(const std::string& s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string snapshots_present(const fs::path& repo) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(repo / "snapshots", ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  if (names.empty()) return "no snapshots";
  std::string s = "snapshots present: ";
  for (size_t i = 0; i < names.size() && i < 8; ++i) s += (i ? ", " : "") + names[i];
  return s;
}

// One way to read `source` as repo + path inside it. Appends what was searched to `searched`;
// returns the local path when found.
std::string look_up(const fs::path& cache, const std::string& repo_id, const std::string& sub,
                    const std::string& revision, std::string* searched) {
  std::string folder = "models--" + repo_id;
  for (size_t p = folder.find('/'); p != std::string::npos; p = folder.find('/')) {
    folder.replace(p, 1, "--");
  }
  const fs::path repo = cache / folder;
  if (!fs::is_directory(repo)) {
    *searched += "\n  " + repo.string() + " (repo " + repo_id + "): not in the cache";
    return {};
  }
  std::string commit;
  if (is_commit_hash(revision)) {
    commit = revision;
  } else {
    const fs::path ref = repo / "refs" / revision;
    std::ifstream in(ref);
    if (!in) {
      *searched += "\n  " + ref.string() + ": no such ref (" + snapshots_present(repo) + ")";
      return {};
    }
    std::string line;
    std::getline(in, line);
    commit = trimmed(line);
    if (!is_commit_hash(commit)) {
      *searched += "\n  " + ref.string() + ": does not hold a commit hash";
      return {};
    }
  }
  fs::path path = repo / "snapshots" / commit;
  if (!sub.empty()) path /= sub;
  if (fs::exists(path)) return path.string();
  *searched +=
      "\n  " + path.string() + ": not there" +
      (fs::is_directory(repo / "snapshots" / commit)
           ? std::string(" (the snapshot lacks it)")
           : " (revision " + revision + " → " + commit + "; " + snapshots_present(repo) + ")");
  return {};
}

}  // namespace

std::string hf_hub_cache_dir() {
  for (const char* name : {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"}) {
    const std::string v = env(name);
    if (!v.empty()) return v;
  }
  if (const std::string home = env("HF_HOME"); !home.empty()) {
    return (fs::path(home) / "hub").string();
  }
  if (const std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty()) {
    return (fs::path(xdg) / "huggingface" / "hub").string();
  }
  return (fs::path(env("HOME")) / ".cache" / "huggingface" / "hub").string();
}

bool looks_like_repo_id(const std::string& source) {
  if (source.empty() || source.front() == '/' || source.front() == '~') return false;
  const std::vector<std::string> parts = split(source);
  if (!valid_repo_part(parts[0])) return false;
  for (size_t i = 1; i < parts.size(); ++i) {
    if (!valid_path_part(parts[i])) return false;
  }
  return true;
}

std::string resolve_model_source(const std::string& source, const std::string& revision,
                                 const std::string& option, const std::string& hub_cache) {
  const std::string what = option.empty() ? std::string() : option + ": ";
  if (source.empty()) return source;  // not given
  // A local path, or one that cannot be a repo id (absolute, ./, ../): the loader that opens it
  // reports what is missing in its own terms.
  if (fs::exists(source) || !looks_like_repo_id(source)) return source;
  const std::string rev = revision.empty() ? "main" : revision;
  for (const std::string& part : split(rev)) {
    if (!valid_path_part(part)) throw Error(what + "invalid revision '" + rev + "'", source);
  }
  const fs::path cache = hub_cache.empty() ? fs::path(hf_hub_cache_dir()) : fs::path(hub_cache);
  const std::vector<std::string> parts = split(source);
  std::string searched = "\n  " + fs::absolute(source).string() + ": no such local file or folder";
  auto rest = [&](size_t from) {
    std::string s;
    for (size_t i = from; i < parts.size(); ++i) s += (s.empty() ? "" : "/") + parts[i];
    return s;
  };
  // "org/name[/path]" first; then a repo without an organisation ("gpt2[/path]").
  if (parts.size() >= 2 && valid_repo_part(parts[1])) {
    const std::string found = look_up(cache, parts[0] + "/" + parts[1], rest(2), rev, &searched);
    if (!found.empty()) return found;
  }
  const std::string found = look_up(cache, parts[0], rest(1), rev, &searched);
  if (!found.empty()) return found;
  throw Error(what + "not a local file or folder, and not in the Hugging Face cache at revision " +
                  rev + " (nothing is downloaded: fetch it first, e.g. `huggingface-cli download " +
                  (parts.size() >= 2 ? parts[0] + "/" + parts[1] : parts[0]) +
                  "`, or set HF_HUB_CACHE / HF_HOME). Searched:" + searched,
              source);
}

}  // namespace ipa
