// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// How a bus tells OpenPublisher about itself. A bus is one folder,
// src/publish/<bus>/, whose library defines herald::publish::<bus>::Schemes():
// the URL schemes it serves, each with its opener. The list of buses in
// src/publish/CMakeLists.txt generates AllSchemes() from the buses this build
// has; OpenPublisher, the CLI and the demo learn the schemes from it, so a new
// bus touches its folder, that list, its CMake option and the docs.
#ifndef HERALD_PUBLISH_SCHEME_H_
#define HERALD_PUBLISH_SCHEME_H_

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "herald/publisher.h"
#include "herald/status.h"

namespace herald::publish {

struct Scheme {
  // What OpenPublisher and the CLI show of it (see PublisherScheme).
  std::string_view name;
  std::string_view form;
  std::string_view doc;
  // Opens a publisher for `url`, which starts with name and ':'.
  // InvalidArgument for a malformed URL or an option the bus does not take.
  Result<std::unique_ptr<Publisher>> (*open)(std::string_view url,
                                             const PublisherOptions& options);
  // The client library and its version, as linked ("librdkafka 2.0.2");
  // nullptr for a bus of Herald's own.
  std::string (*library)() = nullptr;
};

// Every scheme of this build, bus by bus in the order of the list.
std::span<const Scheme* const> AllSchemes();

// Adapts a bus's own Open(url, options) to Scheme::open.
template <typename P>
Result<std::unique_ptr<Publisher>> OpenAs(std::string_view url, const PublisherOptions& options) {
  auto publisher = P::Open(url, options);
  if (!publisher) return std::unexpected(publisher.error());
  return std::unique_ptr<Publisher>(std::move(*publisher));
}

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_SCHEME_H_
