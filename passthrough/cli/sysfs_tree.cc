#include "passthrough/cli/sysfs_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace hvmd::pcicli {

SysfsTree::SysfsTree(std::string root) : root_(std::move(root)) {
  if (root_.empty()) root_ = "/";
  if (root_.back() != '/') root_ += '/';
}

std::string SysfsTree::full(const std::string& rel) const {
  size_t skip = 0;
  while (skip < rel.size() && rel[skip] == '/') ++skip;
  return root_ + rel.substr(skip);
}

std::optional<std::vector<uint8_t>> SysfsTree::read_bytes(const std::string& rel,
                                                          size_t max_bytes) const {
  int fd = open(full(rel).c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  std::vector<uint8_t> data;
  uint8_t chunk[4096];
  bool ok = true;
  while (data.size() < max_bytes) {
    size_t want = std::min(sizeof chunk, max_bytes - data.size());
    ssize_t n = read(fd, chunk, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ok = data.empty() ? false : true;  // sysfs may refuse past a readable prefix: keep it
      break;
    }
    if (n == 0) break;
    data.insert(data.end(), chunk, chunk + n);
  }
  close(fd);
  if (!ok) return std::nullopt;
  return data;
}

std::optional<std::string> SysfsTree::read_text(const std::string& rel, size_t max_bytes) const {
  auto bytes = read_bytes(rel, max_bytes);
  if (!bytes) return std::nullopt;
  return std::string(bytes->begin(), bytes->end());
}

std::optional<std::string> SysfsTree::read_line(const std::string& rel) const {
  auto text = read_text(rel, 4096);
  if (!text) return std::nullopt;
  std::string line = text->substr(0, text->find('\n'));
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\0'; };
  while (!line.empty() && blank(line.back())) line.pop_back();
  size_t start = 0;
  while (start < line.size() && blank(line[start])) ++start;
  return line.substr(start);
}

std::optional<std::string> SysfsTree::link_name(const std::string& rel) const {
  char target[PATH_MAX];
  ssize_t n = readlink(full(rel).c_str(), target, sizeof target - 1);
  if (n <= 0) return std::nullopt;
  std::string link(target, static_cast<size_t>(n));
  while (!link.empty() && link.back() == '/') link.pop_back();
  auto slash = link.rfind('/');
  std::string name = slash == std::string::npos ? link : link.substr(slash + 1);
  if (name.empty()) return std::nullopt;
  return name;
}

bool SysfsTree::exists(const std::string& rel) const {
  struct stat st;
  return stat(full(rel).c_str(), &st) == 0;
}

bool SysfsTree::is_dir(const std::string& rel) const {
  struct stat st;
  return stat(full(rel).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> SysfsTree::list(const std::string& rel, size_t max_entries) const {
  std::vector<std::string> names;
  DIR* dir = opendir(full(rel).c_str());
  if (!dir) return names;
  while (names.size() < max_entries) {
    dirent* entry = readdir(dir);
    if (!entry) break;
    std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    names.push_back(std::move(name));
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::string SysfsTree::write(const std::string& rel, const std::string& value) {
  std::string path = full(rel);
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC | O_TRUNC);
  if (fd < 0) return "cannot open " + path + " for writing: " + strerror(errno);
  // sysfs takes an attribute in one write; a short write is a refusal.
  ssize_t n;
  do {
    n = ::write(fd, value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) return "writing '" + value + "' to " + path + " failed: " + strerror(err);
  if (static_cast<size_t>(n) != value.size()) {
    return "writing '" + value + "' to " + path + " was cut short";
  }
  writes_.push_back({rel, value});
  if (hook_) hook_(writes_.back());
  return "";
}

}  // namespace hvmd::pcicli
