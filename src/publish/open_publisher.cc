// OpenPublisher: maps a URL's scheme to the publisher that serves it. Each bus
// adds one entry to kSchemes, compiled in behind its CMake option.
#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "herald/publisher.h"
#include "publish/file/file_publisher.h"
#ifdef HERALD_WITH_KAFKA
#include "publish/kafka/kafka_publisher.h"
#endif
#ifdef HERALD_WITH_NATS
#include "publish/nats/nats_publisher.h"
#endif

namespace herald {
namespace {

using Opener = Result<std::unique_ptr<Publisher>> (*)(std::string_view url, std::string_view rest,
                                                      const PublisherOptions& options);

Status RejectOptions(std::string_view scheme, const PublisherOptions& options) {
  if (options.properties.empty()) return OkStatus();
  return InvalidArgument(fmt::format("publisher '{}' takes no options (got '{}')", scheme,
                                     options.properties.begin()->first));
}

Result<std::unique_ptr<Publisher>> OpenStdout(std::string_view url, std::string_view rest,
                                              const PublisherOptions& options) {
  if (!rest.empty()) {
    return std::unexpected(
        InvalidArgument(fmt::format("publisher URL '{}': stdout: takes no path", url)));
  }
  if (Status s = RejectOptions("stdout", options); !s.ok()) return std::unexpected(s);
  return publish::FilePublisher::OpenStdout();
}

// "file:PATH" (relative or absolute, taken literally) or "file:///abs/path"
// (also "file://localhost/abs/path").
Result<std::string> FilePath(std::string_view url, std::string_view rest) {
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

Result<std::unique_ptr<Publisher>> OpenFile(std::string_view url, std::string_view rest,
                                            const PublisherOptions& options) {
  Result<std::string> path = FilePath(url, rest);
  if (!path) return std::unexpected(path.error());
  if (Status s = RejectOptions("file", options); !s.ok()) return std::unexpected(s);
  auto publisher = publish::FilePublisher::OpenFile(*path);
  if (!publisher) return std::unexpected(publisher.error());
  return std::unique_ptr<Publisher>(std::move(*publisher));
}

#ifdef HERALD_WITH_KAFKA
// "kafka://host:port[,host:port...]"; options are librdkafka properties.
Result<std::unique_ptr<Publisher>> OpenKafka(std::string_view url, std::string_view /*rest*/,
                                             const PublisherOptions& options) {
  auto publisher = publish::KafkaPublisher::Open(url, options);
  if (!publisher) return std::unexpected(publisher.error());
  return std::unique_ptr<Publisher>(std::move(*publisher));
}
#endif

#ifdef HERALD_WITH_NATS
// "nats://[user:password@]host:port[,host:port...]"; options in docs/nats.md.
Result<std::unique_ptr<Publisher>> OpenNats(std::string_view url, std::string_view /*rest*/,
                                            const PublisherOptions& options) {
  auto publisher = publish::NatsPublisher::Open(url, options);
  if (!publisher) return std::unexpected(publisher.error());
  return std::unique_ptr<Publisher>(std::move(*publisher));
}
#endif

struct Scheme {
  std::string_view name;
  Opener open;
};

constexpr std::array kSchemes = {
    Scheme{"stdout", OpenStdout},
    Scheme{"file", OpenFile},
#ifdef HERALD_WITH_KAFKA
    Scheme{"kafka", OpenKafka},
#endif
#ifdef HERALD_WITH_NATS
    Scheme{"nats", OpenNats},
#endif
};

std::string SupportedSchemes() {
  std::string out;
  for (const Scheme& s : kSchemes) {
    if (!out.empty()) out += ", ";
    out += s.name;
  }
  return out;
}

bool IsSchemeName(std::string_view s) {
  if (s.empty() || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '-' || c == '.';
  });
}

}  // namespace

Result<std::unique_ptr<Publisher>> OpenPublisher(std::string_view url,
                                                 const PublisherOptions& options) {
  // A bare scheme name such as "stdout" means "stdout:".
  std::size_t colon = url.find(':');
  std::string_view scheme = url.substr(0, colon);
  std::string_view rest = colon == std::string_view::npos ? "" : url.substr(colon + 1);
  if (!IsSchemeName(scheme)) {
    return std::unexpected(InvalidArgument(fmt::format(
        "malformed publisher URL '{}' (expected SCHEME:..., e.g. stdout: or file:PATH)", url)));
  }
  for (const Scheme& s : kSchemes) {
    if (s.name == scheme) return s.open(url, rest, options);
  }
  return std::unexpected(InvalidArgument(fmt::format(
      "unknown publisher scheme '{}' in '{}' (supported: {})", scheme, url, SupportedSchemes())));
}

}  // namespace herald
