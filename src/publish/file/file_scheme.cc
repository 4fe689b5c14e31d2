// The schemes of the file folder: "stdout:" and "file:PATH".
#include <array>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "publish/file/file_publisher.h"
#include "publish/scheme.h"

namespace herald::publish::file {
namespace {

Status RejectOptions(std::string_view scheme, const PublisherOptions& options) {
  if (options.properties.empty()) return OkStatus();
  return InvalidArgument(fmt::format("publisher '{}' takes no options (got '{}')", scheme,
                                     options.properties.begin()->first));
}

// What follows "SCHEME:" in `url`.
std::string_view Rest(std::string_view url) {
  std::size_t colon = url.find(':');
  return colon == std::string_view::npos ? std::string_view() : url.substr(colon + 1);
}

Result<std::unique_ptr<Publisher>> OpenStdout(std::string_view url,
                                              const PublisherOptions& options) {
  if (!Rest(url).empty()) {
    return std::unexpected(
        InvalidArgument(fmt::format("publisher URL '{}': stdout: takes no path", url)));
  }
  if (Status s = RejectOptions("stdout", options); !s.ok()) return std::unexpected(s);
  return FilePublisher::OpenStdout();
}

// "file:PATH" (relative or absolute, taken literally) or "file:///abs/path"
// (also "file://localhost/abs/path").
Result<std::string> FilePath(std::string_view url) {
  std::string_view rest = Rest(url);
  if (rest.starts_with("//")) {
    std::string_view authority = rest.substr(2);
    std::size_t slash = authority.find('/');
    std::string_view host = authority.substr(0, slash);
    if (slash == std::string_view::npos || (!host.empty() && host != "localhost")) {
      return std::unexpected(InvalidArgument(
          fmt::format("publisher URL '{}': expected file:PATH or file:///absolute/path", url)));
    }
    rest = authority.substr(slash);
  }
  if (rest.empty()) {
    return std::unexpected(
        InvalidArgument(fmt::format("publisher URL '{}' has an empty path", url)));
  }
  return std::string(rest);
}

Result<std::unique_ptr<Publisher>> OpenFile(std::string_view url,
                                            const PublisherOptions& options) {
  Result<std::string> path = FilePath(url);
  if (!path) return std::unexpected(path.error());
  if (Status s = RejectOptions("file", options); !s.ok()) return std::unexpected(s);
  auto publisher = FilePublisher::OpenFile(*path);
  if (!publisher) return std::unexpected(publisher.error());
  return std::unique_ptr<Publisher>(std::move(*publisher));
}

constexpr std::array kSchemes = {
    Scheme{"stdout", "stdout:", "docs/cli.md", OpenStdout},
    Scheme{"file", "file:PATH", "docs/cli.md", OpenFile},
};

}  // namespace

std::span<const Scheme> Schemes() { return kSchemes; }

}  // namespace herald::publish::file
